-- How many downloads have been recorded, as a sum over a few counter rows: each recorded
-- download adds one to one row (chosen at random) in its own transaction, so the sum moves
-- with every committed download and never moves back. Servers keep download counts and
-- activity pages in memory while the sum stays where it was when they read them.
CREATE TABLE download_marks (
    shard  INTEGER PRIMARY KEY,
    n      BIGINT NOT NULL
);
INSERT INTO download_marks (shard, n)
    SELECT 0, COALESCE(MAX(seq), 0) FROM download_events;
INSERT INTO download_marks (shard, n)
    WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 15)
    SELECT i, 0 FROM s;
