-- Changes to who may do what (a key revoked, a membership set or removed): servers cache
-- keys and roles and drop their caches when the newest change number moves. Writers take an
-- exclusive lock on this table before appending, so change numbers commit in order.
CREATE TABLE access_changes (
    seq  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at   TEXT NOT NULL
);
