-- Generic OCI content under /v2/: manifests and indexes stored byte for byte, tags, and
-- every descriptor a manifest names (what garbage collection keeps and what the referrers
-- API answers from). A dataset version's /v2/ view is a manifest here whose tag is the
-- version's: the tag row carries version_id, so deleting the version deletes its tag (and
-- the server then drops the view when no tag is left on it), and two versions may share a
-- view's bytes without sharing a fate.
CREATE TABLE oci_manifests (
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    repo          TEXT NOT NULL,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    annotations   TEXT,
    body          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests (org_id, repo, subject);

CREATE TABLE oci_tags (
    org_id     TEXT NOT NULL,
    repo       TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    version_id TEXT REFERENCES dataset_versions(id) ON DELETE CASCADE,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, tag),
    FOREIGN KEY (org_id, repo, digest) REFERENCES oci_manifests (org_id, repo, digest) ON DELETE CASCADE
);
CREATE INDEX oci_tags_digest ON oci_tags (org_id, repo, digest);
CREATE INDEX oci_tags_version ON oci_tags (version_id);

CREATE TABLE oci_refs (
    org_id  TEXT NOT NULL,
    repo    TEXT NOT NULL,
    digest  TEXT NOT NULL,
    target  TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, digest, target),
    FOREIGN KEY (org_id, repo, digest) REFERENCES oci_manifests (org_id, repo, digest) ON DELETE CASCADE
);
CREATE INDEX oci_refs_target ON oci_refs (org_id, target);
