-- Browser sessions of the web UI. The cookie carries a random token; only its SHA-256 is
-- stored. A session lives as long as the API key it was opened with: revoking the key ends it.
CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    key_id      TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX web_sessions_key ON web_sessions(key_id);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);
