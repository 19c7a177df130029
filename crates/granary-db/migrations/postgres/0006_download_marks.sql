-- How many downloads have been recorded, as a sum over 16 counter rows: each recorded
-- download adds one to one row (chosen at random) in its own transaction, so the sum moves
-- with every committed download and never moves back, whatever order concurrent downloads
-- commit in, and concurrent downloads rarely wait on the same row. Servers keep download
-- counts and activity pages in memory while the sum stays where it was when they read them.
CREATE TABLE download_marks (
    shard  SMALLINT PRIMARY KEY,
    n      BIGINT NOT NULL
);
INSERT INTO download_marks (shard, n)
    SELECT 0, COALESCE(MAX(seq), 0) FROM download_events;
INSERT INTO download_marks (shard, n)
    SELECT i, 0 FROM generate_series(1, 15) AS i;
