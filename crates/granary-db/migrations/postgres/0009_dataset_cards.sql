-- The dataset card: markdown published with a version (`description:` in dataset.yaml or
-- the dataset directory's README.md), shown by the detail API, the page and the CLI.
ALTER TABLE dataset_versions ADD COLUMN description TEXT;
