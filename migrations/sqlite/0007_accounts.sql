-- Accounts people can trust. Mirrors migrations/0007_accounts.up.sql; see
-- there for the reasons. NOCASE only ever compared ASCII case, so SQLite
-- never had MariaDB's loose matches, but both now compare the one
-- canonical form the application derives.
ALTER TABLE users ADD COLUMN username_key TEXT NOT NULL DEFAULT '';

UPDATE users SET username_key = lower(username);

CREATE UNIQUE INDEX username_key ON users (username_key);

DROP INDEX username;

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);

CREATE INDEX user_sessions ON sessions (user_id);

CREATE INDEX session_expiry ON sessions (expires_at);

CREATE TABLE reserved_usernames (
    username_key   TEXT    NOT NULL PRIMARY KEY,
    reserved_until INTEGER NOT NULL
);

CREATE INDEX reservation_expiry ON reserved_usernames (reserved_until);

DELETE FROM idempotency_keys;
