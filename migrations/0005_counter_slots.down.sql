ALTER TABLE posts ADD COLUMN comment_count BIGINT NOT NULL DEFAULT 0 AFTER markdown_url;

UPDATE posts p
    SET comment_count = (SELECT COALESCE(SUM(c.comments), 0) FROM post_counters c WHERE c.post_id = p.id);

DROP TABLE post_counters;

UPDATE counters t
    JOIN (SELECT name, SUM(value) AS total FROM counters GROUP BY name) s ON s.name = t.name
    SET t.value = s.total
    WHERE t.slot = 0;

DELETE FROM counters WHERE slot <> 0;

ALTER TABLE counters DROP PRIMARY KEY, DROP COLUMN slot, ADD PRIMARY KEY (name);
