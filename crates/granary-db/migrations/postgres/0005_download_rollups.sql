-- Folded download counts per organization and per dataset, kept beside the per-(dataset,
-- user) totals by the same fold, so the activity feed's total for an organization or a
-- dataset is one row plus the events still pending, at any volume.
CREATE TABLE download_org_totals (
    org_id  TEXT PRIMARY KEY,
    n       BIGINT NOT NULL
);
CREATE TABLE download_dataset_totals (
    org_id        TEXT NOT NULL,
    dataset_name  TEXT NOT NULL,
    n             BIGINT NOT NULL,
    PRIMARY KEY (org_id, dataset_name)
);
INSERT INTO download_org_totals (org_id, n)
    SELECT org_id, SUM(n) FROM download_totals GROUP BY org_id;
INSERT INTO download_dataset_totals (org_id, dataset_name, n)
    SELECT org_id, dataset_name, SUM(n) FROM download_totals GROUP BY org_id, dataset_name;
