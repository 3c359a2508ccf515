-- Posts: a personal project's title, description and a link to its
-- markdown write-up.
--
-- The creation time is the Snowflake id's time part; updated_at is Unix
-- milliseconds (see 0001 for why not DATETIME). VARCHAR limits match the API
-- contract's character limits, so the database refuses what the API would.
CREATE TABLE posts (
    id            BIGINT        NOT NULL,
    author_id     BIGINT        NOT NULL,
    title         VARCHAR(200)  NOT NULL,
    description   VARCHAR(5000) NOT NULL DEFAULT '',
    markdown_url  VARCHAR(2048) NOT NULL,
    -- Kept by every comment write in the same transaction, so lists show it
    -- without counting rows.
    comment_count BIGINT        NOT NULL DEFAULT 0,
    updated_at    BIGINT        NOT NULL,
    PRIMARY KEY (id),
    -- A user's posts newest first: WHERE author_id = ? ORDER BY id DESC reads
    -- this index in order, with no filesort.
    KEY author_posts (author_id, id),
    -- No ON DELETE CASCADE: deleting a user who has posts must be a decision
    -- (their posts and counts), not a side effect.
    CONSTRAINT posts_author FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
