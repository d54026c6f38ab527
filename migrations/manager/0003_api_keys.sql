-- Bearer API keys of the REST API. Only a hash of each key is stored (manager/auth/keys.ts); the
-- key text is shown once, to whoever created it. A revoked key stays listed, with revoked_at.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9-]{12,64}$'),
  name TEXT NOT NULL,
  scopes JSONB NOT NULL,
  key_hash TEXT NOT NULL CHECK (key_hash ~ '^[0-9a-f]{64}$'),
  created_at TIMESTAMPTZ NOT NULL,
  last_used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ
);
CREATE INDEX api_keys_active ON api_keys (revoked_at);
