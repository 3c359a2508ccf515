-- Settings a local (SQLite) Omni keeps for itself, such as the JWT signing
-- key it generates when none is configured. MySQL deployments have no such
-- table: their secrets are Spin variables.
CREATE TABLE local_settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
