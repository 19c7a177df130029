-- Changes to who may do what (a key revoked, a membership set or removed): servers cache
-- keys and roles and drop their caches when the newest change number moves.
CREATE TABLE access_changes (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    at   TEXT NOT NULL
);
