-- Users, on Spin's built-in SQLite (the zero-setup backend). Mirrors
-- migrations/0001_users.up.sql for MySQL; see there for the reasons.
--
-- Applied by the app itself on first use (shared/src/db/sqlite.rs), one
-- statement at a time, because Spin's SQLite `execute` runs only the first
-- statement of a string.
--
-- `INTEGER PRIMARY KEY` is SQLite's 64-bit rowid: the Snowflake id is the
-- row's key, with no second index.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    -- NOCASE makes the unique index and every lookup ignore ASCII case, which
    -- is all a username can hold, so "Ada" and "ada" cannot both exist.
    username      TEXT    NOT NULL COLLATE NOCASE
                          CHECK (length(username) BETWEEN 3 AND 32),
    password_hash TEXT    NOT NULL CHECK (length(password_hash) = 60),
    display_name  TEXT    NOT NULL DEFAULT '' CHECK (length(display_name) <= 64),
    bio           TEXT    NOT NULL DEFAULT '' CHECK (length(bio) <= 500),
    post_count    INTEGER NOT NULL DEFAULT 0
);

-- Named like the MySQL key, though SQLite reports a violation by column
-- (`UNIQUE constraint failed: users.username`).
CREATE UNIQUE INDEX username ON users (username);
