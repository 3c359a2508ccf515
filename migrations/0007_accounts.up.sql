-- Accounts people can trust.
--
-- 1. One canonical username. `username` stays as the person typed it, but
--    its utf8mb4_unicode_ci collation compares loosely: 'ada', 'ada ',
--    'ÁDA' and 'ａda' are all equal to it, so a lookup by the raw text found
--    ada for every spelling. `username_key` holds the one canonical form the
--    application derives (Unicode NFKC, trimmed, lower case; model.rs
--    refuses everything else) and is compared byte for byte (ascii_bin).
--    Its unique key replaces the old one. Every stored username is already
--    plain ASCII letters, digits and underscores, so LOWER() is its
--    canonical form.
ALTER TABLE users
    ADD COLUMN username_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER username;

UPDATE users SET username_key = LOWER(username);

ALTER TABLE users
    MODIFY username_key VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ADD UNIQUE KEY username_key (username_key),
    DROP KEY username;

-- 2. Sessions that end. A token names its session; every authenticated
--    request finds the session by primary key, in the statement that also
--    reads the caller, so a token whose session was ended is refused at
--    once on every pod. Ending a user's sessions deletes their rows;
--    deleting the user deletes them all. Rows past expires_at (Unix ms,
--    the token's own expiry) are swept in small batches by writes.
CREATE TABLE sessions (
    id         BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (id),
    KEY user_sessions (user_id),
    KEY session_expiry (expires_at),
    CONSTRAINT sessions_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB;

-- 3. The name of a deleted account cannot be signed up again until
--    reserved_until (Unix ms): see docs/accounts.md for the period.
CREATE TABLE reserved_usernames (
    username_key   VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reserved_until BIGINT      NOT NULL,
    PRIMARY KEY (username_key),
    KEY reservation_expiry (reserved_until)
) ENGINE = InnoDB;

-- 4. Idempotency fingerprints are now HMACs under a server key. Rows made
--    before held unkeyed SHA-256 digests (at first of whole request bodies,
--    passwords included): they go, which at worst makes a retry in flight
--    during the upgrade create once more.
DELETE FROM idempotency_keys;
