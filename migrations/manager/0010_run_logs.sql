-- A run's live output: the stdout/stderr chunks its proplet streams as task.log while it runs
-- (GET /tasks/{id}/runs/{runId}/logs). The result still carries the captured output; these rows
-- let a follower that connects late, or reconnects, replay what it missed. (run_id, seq) makes a
-- repeated chunk (QoS 1 redelivery, several managers) land once.
CREATE TABLE run_logs (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq INTEGER NOT NULL CHECK (seq > 0),
  stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
  data BYTEA NOT NULL,
  at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (run_id, seq)
);
