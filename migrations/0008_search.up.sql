-- Search: full-text indexes over projects' titles and descriptions, for
-- GET /api/search and the website's /search.
--
-- InnoDB keeps a FULLTEXT index in step with its table on every insert,
-- update and delete, whoever runs it (an edit, a post deleted with its
-- author's account), so the write path has nothing to add. Relevance comes
-- back as a DOUBLE, which Spin reads (floating64).
--
-- Two indexes, because MATCH must name exactly an index's columns: the
-- score counts a match in the title twice (`posts_title_search`) on top of
-- a match anywhere (`posts_search`). InnoDB builds one FULLTEXT index per
-- statement.
--
-- Words shorter than innodb_ft_min_token_size (3 by default) and InnoDB's
-- stopwords are not indexed: a search for "go" alone finds nothing here.
ALTER TABLE posts ADD FULLTEXT KEY posts_search (title, description);
ALTER TABLE posts ADD FULLTEXT KEY posts_title_search (title);
