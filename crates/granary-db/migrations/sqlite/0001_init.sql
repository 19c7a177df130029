-- Identity: organizations, users, memberships, API keys.
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

-- Only the SHA-256 of a key is stored; `prefix` is its first characters, for display.
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

-- Datasets: a name in an org, owning visibility; versions are immutable once published.
CREATE TABLE datasets (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    is_public   INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE dataset_versions (
    id               TEXT PRIMARY KEY,
    dataset_id       TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version          TEXT NOT NULL,
    major            INTEGER NOT NULL,
    minor            INTEGER NOT NULL,
    patch            INTEGER NOT NULL,
    manifest_digest  TEXT NOT NULL,
    manifest         TEXT NOT NULL,
    config_digest    TEXT NOT NULL,
    format           TEXT NOT NULL,
    data_schema      TEXT NOT NULL,
    row_count        INTEGER NOT NULL,
    file_size_bytes  INTEGER NOT NULL,
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
    download_count   INTEGER NOT NULL DEFAULT 0,
    created_by       TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (dataset_id, version)
);
CREATE INDEX dataset_versions_semver ON dataset_versions(dataset_id, major DESC, minor DESC, patch DESC);
CREATE INDEX dataset_versions_digest ON dataset_versions(dataset_id, manifest_digest);

CREATE TABLE version_files (
    version_id  TEXT NOT NULL REFERENCES dataset_versions(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    split       TEXT,
    PRIMARY KEY (version_id, path)
);
CREATE INDEX version_files_digest ON version_files(digest);

-- Multi-valued facets as rows, so filters use indexes rather than scanning JSON text.
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
