-- Each file's own schema (JSON [[name, type], ...]) and row count, as computed when its
-- version was published. NULL for versions published before files carried them.
ALTER TABLE version_files ADD COLUMN data_schema TEXT;
ALTER TABLE version_files ADD COLUMN row_count INTEGER;
