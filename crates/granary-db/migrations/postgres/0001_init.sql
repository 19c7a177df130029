-- The PostgreSQL schema: the same tables as the SQLite one, with the same value types
-- (text ids, RFC 3339 UTC text timestamps, JSON as text, 64-bit integers), so rows decode
-- identically on both backends.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    key         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'contributor', 'reader')),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX api_keys_user ON api_keys(user_id);

CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    is_public   BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE dataset_versions (
    id               TEXT PRIMARY KEY,
    dataset_id       TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version          TEXT NOT NULL,
    major            BIGINT NOT NULL,
    minor            BIGINT NOT NULL,
    patch            BIGINT NOT NULL,
    manifest_digest  TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    config_digest    TEXT NOT NULL,
    format           TEXT NOT NULL,
    data_schema      TEXT NOT NULL,
    row_count        BIGINT NOT NULL,
    file_size_bytes  BIGINT NOT NULL,
    size_category    TEXT NOT NULL,
    summary          TEXT,
    pretty_name      TEXT,
    license          TEXT,
    language         TEXT,
    tags             TEXT NOT NULL,
    task_categories  TEXT NOT NULL,
    origin           TEXT,
    splits           TEXT,
    artifacts_hash   TEXT NOT NULL,
    download_count   BIGINT NOT NULL DEFAULT 0,
    created_by       TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    name             TEXT NOT NULL,
    full_name        TEXT NOT NULL,
    is_public        BIGINT NOT NULL DEFAULT 0,
    UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_digest ON dataset_versions(dataset_id, manifest_digest);
CREATE INDEX dv_org_name_semver ON dataset_versions(org_id, name, major DESC, minor DESC, patch DESC);
CREATE INDEX dv_org_public ON dataset_versions(org_id, is_public);

CREATE TABLE version_files (
    version_id  TEXT NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    split       TEXT,
    PRIMARY KEY (version_id, path)
);
CREATE INDEX version_files_digest ON version_files(digest);

CREATE TABLE version_tags (
    version_id  TEXT NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (version_id, tag)
);
CREATE INDEX version_tags_tag ON version_tags(tag, version_id);

CREATE TABLE version_task_categories (
    version_id     TEXT NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
    task_category  TEXT NOT NULL,
    PRIMARY KEY (version_id, task_category)
);
CREATE INDEX version_task_categories_value ON version_task_categories(task_category, version_id);

-- Changes to what the catalog lists; writers take an exclusive lock on this table before
-- appending, so change numbers commit in order.
CREATE TABLE catalog_changes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dataset_id  TEXT NOT NULL
);

CREATE TABLE download_events (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    seq           BIGINT PRIMARY KEY,
    org_id        TEXT NOT NULL,
    version_id    TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    user_id       TEXT NOT NULL
);
CREATE INDEX download_pending_version ON download_pending(version_id);
CREATE INDEX download_pending_org ON download_pending(org_id, user_id, dataset_name);

CREATE TABLE download_totals (
    org_id        TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (org_id, dataset_name, user_id)
);
CREATE INDEX download_totals_user ON download_totals(org_id, user_id);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
