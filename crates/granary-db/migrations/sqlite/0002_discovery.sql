-- The dataset's org, name, canonical name and visibility are copied onto each version (org
-- keys never change; visibility is updated with the dataset's), so version reads and the
-- catalog load need no join.
ALTER TABLE dataset_versions ADD COLUMN org_id TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_versions ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_versions ADD COLUMN full_name TEXT NOT NULL DEFAULT '';
ALTER TABLE dataset_versions ADD COLUMN is_public INTEGER NOT NULL DEFAULT 0;

UPDATE dataset_versions SET
    org_id = (SELECT d.org_id FROM datasets d WHERE d.id = dataset_versions.dataset_id),
    name = (SELECT d.name FROM datasets d WHERE d.id = dataset_versions.dataset_id),
    is_public = (SELECT d.is_public FROM datasets d WHERE d.id = dataset_versions.dataset_id),
    full_name = (SELECT o.key || '/' || d.name FROM datasets d JOIN orgs o ON o.id = d.org_id WHERE d.id = dataset_versions.dataset_id);

CREATE INDEX dv_org_name_semver ON dataset_versions(org_id, name, major DESC, minor DESC, patch DESC);
CREATE INDEX dv_org_public ON dataset_versions(org_id, is_public);

-- Every change to what the catalog lists (a version published or deleted, a visibility
-- change) appends the dataset's id here in the same transaction; each server's in-memory
-- catalog reloads the datasets changed since the sequence it last saw.
CREATE TABLE catalog_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id  TEXT NOT NULL
);

-- Download events: append-only, the source of truth for counts and the activity feed.
-- A fold moves a batch of pending events into the counters in one transaction; reads add
-- what is still pending. Counts are exact at any moment, and no download waits on a shared
-- counter row.
CREATE TABLE download_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    org_id        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    version       TEXT NOT NULL,
    split         TEXT,
    user_id       TEXT NOT NULL,
    username      TEXT NOT NULL,
    user_org      TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX download_events_org ON download_events(org_id, seq);
CREATE INDEX download_events_org_user ON download_events(org_id, user_id, seq);
CREATE INDEX download_events_org_dataset ON download_events(org_id, dataset_name, seq);

-- Events not yet added to the counters: written with each event, deleted by the fold that
-- counts them. It stays small, so reads add it cheaply and the event table is never updated.
CREATE TABLE download_pending (
    seq           INTEGER PRIMARY KEY,
    org_id        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    user_id       TEXT NOT NULL
);
CREATE INDEX download_pending_version ON download_pending(version_id);
CREATE INDEX download_pending_org ON download_pending(org_id, user_id, dataset_name);

-- Folded counts per (org, dataset, user), for activity totals.
CREATE TABLE download_totals (
    org_id        TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    n             INTEGER NOT NULL,
    PRIMARY KEY (org_id, dataset_name, user_id)
);
CREATE INDEX download_totals_user ON download_totals(org_id, user_id);

-- Server-wide settings shared by every replica (e.g. the link-signing secret).
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
