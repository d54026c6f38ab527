-- Workflows (a DAG of tasks) and jobs (a named set of tasks, parallel or sequential: a workflow of
-- kind 'job' whose graph the manager derives). Each node owns one task; the workflow advances when
-- its nodes' tasks finish (claimed FOR UPDATE SKIP LOCKED, so one manager advances it at a time).
CREATE TABLE workflows (
  id TEXT PRIMARY KEY,
  seq BIGSERIAL NOT NULL UNIQUE,
  kind TEXT NOT NULL CHECK (kind IN ('workflow', 'job')),
  name TEXT NOT NULL,
  -- job only: how its tasks run.
  mode TEXT CHECK (mode IN ('parallel', 'sequential')),
  state TEXT NOT NULL CHECK (state IN ('created', 'running', 'completed', 'failed', 'stopped')),
  reason TEXT,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ
);
CREATE INDEX workflows_by_kind_seq ON workflows (kind, seq DESC);
CREATE INDEX workflows_running ON workflows (state) WHERE state = 'running';

CREATE TABLE workflow_nodes (
  workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  task_id TEXT REFERENCES tasks (id) ON DELETE SET NULL,
  depends_on JSONB NOT NULL,
  run_if TEXT NOT NULL CHECK (run_if IN ('success', 'failure', 'always')),
  on_failure TEXT NOT NULL CHECK (on_failure IN ('skip-dependants', 'fail-dependants')),
  pass_results TEXT NOT NULL CHECK (pass_results IN ('none', 'stdin', 'args')),
  state TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'completed', 'failed', 'stopped', 'skipped')),
  reason TEXT,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (workflow_id, name),
  UNIQUE (workflow_id, position)
);
CREATE INDEX workflow_nodes_by_task ON workflow_nodes (task_id);
