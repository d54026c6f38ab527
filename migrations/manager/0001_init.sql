-- Manager store: tasks, every run of every task (a re-run never overwrites), inline artifacts by
-- digest, and the proplets the manager has seen. Applied alike to PostgreSQL and PGlite.

-- Inline artifact bytes, content-addressed: two tasks with the same Wasm share one row.
CREATE TABLE artifacts (
  digest TEXT PRIMARY KEY CHECK (digest ~ '^sha256:[0-9a-f]{64}$'),
  size BIGINT NOT NULL CHECK (size >= 0),
  data BYTEA NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  -- Monotonic insertion order: the cursor of list paging (timestamps can tie).
  seq BIGSERIAL NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'scheduled', 'running', 'completed', 'failed', 'stopped')),
  -- Everything the caller specified (runtime, artifact reference, entrypoint, args, env, stdin, limits, …).
  spec JSONB NOT NULL,
  artifact_digest TEXT NOT NULL,
  pending_reason TEXT,
  latest_run_id TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_by_seq ON tasks (seq DESC);
CREATE INDEX tasks_by_state_seq ON tasks (state, seq DESC);
CREATE INDEX tasks_by_artifact ON tasks (artifact_digest);

CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  attempt INTEGER NOT NULL CHECK (attempt >= 1),
  state TEXT NOT NULL CHECK (state IN ('queued', 'scheduled', 'running', 'completed', 'failed', 'stopped')),
  proplet_id TEXT,
  deliveries INTEGER NOT NULL DEFAULT 0,
  -- Nonce the run's receipt must carry; the same on every redelivery of the run.
  receipt_nonce TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  dispatched_at TIMESTAMPTZ,
  last_delivery_at TIMESTAMPTZ,
  accepted_at TIMESTAMPTZ,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  result JSONB,
  receipt TEXT,
  UNIQUE (task_id, attempt)
);
-- Claiming queued runs oldest first, and sweeping scheduled runs whose ack is overdue.
CREATE INDEX runs_by_state_created ON runs (state, created_at);
-- Runs held by one proplet (load, loss handling).
CREATE INDEX runs_by_proplet_state ON runs (proplet_id, state);
CREATE INDEX runs_by_task ON runs (task_id, attempt DESC);

CREATE TABLE proplets (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  capabilities JSONB NOT NULL,
  alive BOOLEAN NOT NULL,
  heartbeat_interval_ms INTEGER,
  last_seen_at TIMESTAMPTZ NOT NULL,
  connected_at TIMESTAMPTZ NOT NULL,
  gone_reason TEXT
);
CREATE INDEX proplets_alive ON proplets (alive);
