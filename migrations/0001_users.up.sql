-- Users.
--
-- Ids are Snowflakes made by the application (shared/src/snowflake.rs): the
-- high bits are the creation time in milliseconds, so there is no separate
-- created_at column to keep in step with them.
--
-- Spin's MySQL interface cannot read DATETIME or TIMESTAMP columns (the whole
-- query fails), so every time in this schema is a BIGINT of Unix milliseconds.
CREATE TABLE users (
    id            BIGINT       NOT NULL,
    -- Stored as given. The case-insensitive collation makes the unique key,
    -- and every lookup, ignore case: "Ada" and "ada" cannot both exist, and
    -- either logs in as the other.
    username      VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL,
    -- A bcrypt hash is always 60 ASCII characters. Not a _bin collation:
    -- those set the column's BINARY flag, and Spin then returns bytes.
    password_hash CHAR(60)     CHARACTER SET ascii NOT NULL,
    display_name  VARCHAR(64)  NOT NULL DEFAULT '',
    bio           VARCHAR(500) NOT NULL DEFAULT '',
    -- The user's posts, kept by every post write in the same transaction so
    -- that paging a user's posts never counts rows.
    post_count    BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
