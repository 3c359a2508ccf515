-- Comments. Mirrors migrations/0003_comments.up.sql: deleting a post deletes
-- its comments in the same statement (Spin's SQLite enforces foreign keys).
CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    post_id    INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id  INTEGER NOT NULL REFERENCES users (id),
    body       TEXT    NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    updated_at INTEGER NOT NULL
);

-- A post's comments newest first; also serves the cascade.
CREATE INDEX post_comments ON comments (post_id, id);

CREATE INDEX author_comments ON comments (author_id);
