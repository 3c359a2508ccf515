-- Idempotent creates: a client that retries POST /api/posts, POST
-- /api/posts/{id}/comments or POST /api/signup with the same
-- `Idempotency-Key` header gets the first answer again instead of a
-- duplicate. The row is written in the create's own transaction, so either
-- both exist or neither does. Rows older than 24 hours are ignored and
-- deleted by the next keyed create.
CREATE TABLE idempotency_keys (
    -- `signup`, or the user id that sent the key: one user's keys never
    -- meet another's.
    scope        VARCHAR(24)  CHARACTER SET ascii NOT NULL,
    idem_key     VARCHAR(255) CHARACTER SET ascii NOT NULL,
    -- SHA-256 of the request's method, path and body, hex.
    request_hash CHAR(64)     CHARACTER SET ascii NOT NULL,
    -- The first answer, to send again.
    status       SMALLINT     NOT NULL,
    location     VARCHAR(64)  CHARACTER SET ascii NOT NULL,
    body         MEDIUMTEXT   NOT NULL,
    -- Unix milliseconds.
    created_at   BIGINT       NOT NULL,
    PRIMARY KEY (scope, idem_key),
    KEY expiry (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
