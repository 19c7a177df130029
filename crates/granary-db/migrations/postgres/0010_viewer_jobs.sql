-- The viewer's work for each version: a parquet rendition of every non-parquet file and
-- the column statistics of every split, done once by whichever server claims it. A claim
-- is a lease; a job whose lease ran out (its server died) is claimed again; after three
-- attempts it stays failed, with the reason.
CREATE TABLE viewer_jobs (
    version_id   TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    lease        TEXT,
    lease_until  TEXT,
    result       TEXT,
    error        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX viewer_jobs_state ON viewer_jobs(state, created_at);
-- A rendition: the parquet blob written for one file of a version (kept by gc).
CREATE TABLE viewer_renditions (
    version_id  TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    source      TEXT NOT NULL,
    path        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    row_count   BIGINT NOT NULL,
    PRIMARY KEY (version_id, source)
);
CREATE INDEX viewer_renditions_org ON viewer_renditions(org_id);
INSERT INTO viewer_jobs (version_id, org_id, state, attempts, created_at, updated_at)
    SELECT id, org_id, 'pending', 0, created_at, created_at FROM dataset_versions;
