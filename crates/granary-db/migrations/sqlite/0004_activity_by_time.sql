-- The activity feed is ordered by when each event was recorded (ties by insertion order),
-- so its order and its `created_at` values always agree, whichever server or transaction
-- wrote an event first. These indexes serve that order for each filter of the feed.
DROP INDEX download_events_org;
DROP INDEX download_events_org_user;
DROP INDEX download_events_org_dataset;
CREATE INDEX download_events_org_time ON download_events(org_id, created_at, seq);
CREATE INDEX download_events_org_user_time ON download_events(org_id, user_id, created_at, seq);
CREATE INDEX download_events_org_dataset_time ON download_events(org_id, dataset_name, created_at, seq);
