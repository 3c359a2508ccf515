DROP TABLE reserved_usernames;
DROP TABLE sessions;
ALTER TABLE users
    ADD UNIQUE KEY username (username),
    DROP KEY username_key,
    DROP COLUMN username_key;
