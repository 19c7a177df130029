-- Generic OCI content under /v2/: manifests and indexes stored byte for byte, tags, and
-- every descriptor a manifest names (what garbage collection keeps and what the referrers
-- API answers from). A dataset version's /v2/ view is a row here too, tied to the version
-- by version_id, so deleting the version deletes its view, its tag and its references.
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
    version_id    TEXT REFERENCES dataset_versions(id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests (org_id, repo, subject);
CREATE INDEX oci_manifests_version ON oci_manifests (version_id);

CREATE TABLE oci_tags (
    org_id     TEXT NOT NULL,
    repo       TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, tag),
    FOREIGN KEY (org_id, repo, digest) REFERENCES oci_manifests (org_id, repo, digest) ON DELETE CASCADE
);
CREATE INDEX oci_tags_digest ON oci_tags (org_id, repo, digest);

CREATE TABLE oci_refs (
    org_id  TEXT NOT NULL,
    repo    TEXT NOT NULL,
    digest  TEXT NOT NULL,
    target  TEXT NOT NULL,
    PRIMARY KEY (org_id, repo, digest, target),
    FOREIGN KEY (org_id, repo, digest) REFERENCES oci_manifests (org_id, repo, digest) ON DELETE CASCADE
);
CREATE INDEX oci_refs_target ON oci_refs (org_id, target);
