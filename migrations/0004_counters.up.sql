-- Totals that list pages show, kept by the writes that change them, in the
-- same transaction, so that no read ever counts rows: page 1 of a list with
-- a million posts reads one counter row, not a million index entries.
--
-- Per-user and per-post totals live on their rows (users.post_count,
-- posts.comment_count); this table holds the global ones.
CREATE TABLE counters (
    name  VARCHAR(32) CHARACTER SET ascii NOT NULL,
    value BIGINT      NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB;

-- Every post, for GET /api/posts.
INSERT INTO counters (name, value) VALUES ('posts', 0);
