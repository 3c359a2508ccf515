-- Totals that list pages show, kept by the writes that change them. Mirrors
-- migrations/0004_counters.up.sql.
CREATE TABLE counters (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
);

INSERT INTO counters (name, value) VALUES ('posts', 0);
