-- No single hot row.
--
-- Every post created or deleted used to update the one `counters` row, and
-- every comment the one row of its post, so all post writes across the site
-- queued on one row lock, and all comments on a viral post on another.
--
-- 1. The global post count is spread over 16 slot rows. A write adds to one
--    slot at random; a read sums them (16 primary-key rows, in the list
--    page's one statement).
-- 2. A post's comment count moves to `post_counters`: up to 8 slot rows per
--    post, created by the first comment that picks the slot. Comments on one
--    post no longer serialise on the post's row; they take only a shared
--    lock on it (the foreign key check), which other comments share.
ALTER TABLE counters
    ADD COLUMN slot TINYINT UNSIGNED NOT NULL DEFAULT 0,
    DROP PRIMARY KEY,
    ADD PRIMARY KEY (name, slot);

INSERT INTO counters (name, slot, value) VALUES
    ('posts', 1, 0), ('posts', 2, 0), ('posts', 3, 0), ('posts', 4, 0),
    ('posts', 5, 0), ('posts', 6, 0), ('posts', 7, 0), ('posts', 8, 0),
    ('posts', 9, 0), ('posts', 10, 0), ('posts', 11, 0), ('posts', 12, 0),
    ('posts', 13, 0), ('posts', 14, 0), ('posts', 15, 0);

CREATE TABLE post_counters (
    post_id  BIGINT           NOT NULL,
    slot     TINYINT UNSIGNED NOT NULL,
    -- Comments added minus comments deleted through this slot; one slot can
    -- go below zero, their sum cannot.
    comments BIGINT           NOT NULL,
    PRIMARY KEY (post_id, slot),
    CONSTRAINT post_counters_post FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE
) ENGINE = InnoDB;

INSERT INTO post_counters (post_id, slot, comments)
    SELECT id, 0, comment_count FROM posts WHERE comment_count <> 0;

ALTER TABLE posts DROP COLUMN comment_count;
