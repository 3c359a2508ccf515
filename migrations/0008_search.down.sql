ALTER TABLE posts DROP KEY posts_title_search, DROP KEY posts_search;
