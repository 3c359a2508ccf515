-- Posts. Mirrors migrations/0002_posts.up.sql, as changed by 0005 (the
-- comment count lives in post_counters, see 0004). SQLite does not enforce
-- a column's declared length, so the contract's limits are CHECKs here.
CREATE TABLE posts (
    id            INTEGER PRIMARY KEY,
    author_id     INTEGER NOT NULL REFERENCES users (id),
    title         TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description   TEXT    NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    markdown_url  TEXT    NOT NULL CHECK (length(markdown_url) BETWEEN 1 AND 2048),
    updated_at    INTEGER NOT NULL
);

-- A user's posts newest first, read in index order.
CREATE INDEX author_posts ON posts (author_id, id);
