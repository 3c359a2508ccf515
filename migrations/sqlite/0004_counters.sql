-- Totals that list pages show, kept by the writes that change them, spread
-- over slot rows so that no single row is hot. Mirrors MySQL's
-- migrations/0004_counters.up.sql and 0005_counter_slots.up.sql.
--
-- The global post count: 16 slots, a write adds to one at random, a read
-- sums them.
CREATE TABLE counters (
    name  TEXT    NOT NULL,
    slot  INTEGER NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (name, slot)
);

INSERT INTO counters (name, slot, value) VALUES
    ('posts', 0, 0), ('posts', 1, 0), ('posts', 2, 0), ('posts', 3, 0),
    ('posts', 4, 0), ('posts', 5, 0), ('posts', 6, 0), ('posts', 7, 0),
    ('posts', 8, 0), ('posts', 9, 0), ('posts', 10, 0), ('posts', 11, 0),
    ('posts', 12, 0), ('posts', 13, 0), ('posts', 14, 0), ('posts', 15, 0);

-- A post's comment count: up to 8 slots per post, created by the first
-- comment that picks one.
CREATE TABLE post_counters (
    post_id  INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    slot     INTEGER NOT NULL,
    comments INTEGER NOT NULL,
    PRIMARY KEY (post_id, slot)
);
