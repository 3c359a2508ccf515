-- Search: an FTS5 index over projects' titles and descriptions, for
-- GET /api/search and the website's /search. Mirrors MySQL's
-- migrations/0008_search.up.sql (FULLTEXT indexes).
--
-- An external-content table: the text stays in `posts` only, and the index
-- is kept by triggers, so that every insert, edit and delete updates it,
-- whoever runs it: an edit, a post deleted with its author's account, any
-- bulk delete. Statements next to the writes in store/posts would miss
-- whatever another module deletes.
CREATE VIRTUAL TABLE posts_search USING fts5 (
    title,
    description,
    content = 'posts',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Posts written before this migration.
INSERT INTO posts_search (posts_search) VALUES ('rebuild');

CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_search (rowid, title, description)
    VALUES (new.id, new.title, new.description);
END;

CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_search (posts_search, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
END;

CREATE TRIGGER posts_search_update AFTER UPDATE OF title, description ON posts BEGIN
    INSERT INTO posts_search (posts_search, rowid, title, description)
    VALUES ('delete', old.id, old.title, old.description);
    INSERT INTO posts_search (rowid, title, description)
    VALUES (new.id, new.title, new.description);
END;
