-- Comments on posts.
CREATE TABLE comments (
    id         BIGINT        NOT NULL,
    post_id    BIGINT        NOT NULL,
    author_id  BIGINT        NOT NULL,
    body       VARCHAR(5000) NOT NULL,
    updated_at BIGINT        NOT NULL,
    PRIMARY KEY (id),
    -- A post's comments newest first, with no filesort; also serves the
    -- foreign key below.
    KEY post_comments (post_id, id),
    KEY author_comments (author_id),
    -- Deleting a post deletes its comments in the same statement, so the two
    -- can never be half done.
    CONSTRAINT comments_post FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE,
    CONSTRAINT comments_author FOREIGN KEY (author_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
