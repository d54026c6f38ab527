-- Invocations: deployed functions (a module's export kept warm on proplets) and where
-- each is deployed. An invocation itself is synchronous and not stored (its reply is the record).
CREATE TABLE functions (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  spec JSONB NOT NULL,
  -- Inline module bytes (NULL when the proplet fetches them by URL); the function's own copy.
  artifact BYTEA,
  -- Bumped on every redeploy: proplets and statuses name it.
  generation INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE function_placements (
  function_id TEXT NOT NULL REFERENCES functions (id) ON DELETE CASCADE,
  proplet_id TEXT NOT NULL,
  generation INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('deploying', 'ready', 'failed')),
  error TEXT,
  -- The proplet's connected_at when deployed: a proplet that restarted lost its warm pool.
  proplet_connected_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (function_id, proplet_id)
);
