-- Federated learning (docs/fl.md): experiments, their participants, rounds, the updates of each
-- round, and the model versions they produced. A round's training runs are ordinary tasks (one per
-- participant, pinned to it). Experiments are advanced FOR UPDATE SKIP LOCKED, one manager at a
-- time; an update's task is recorded by a conditional UPDATE before it is queued, so two managers
-- never queue one participant's run of a round twice.
CREATE TABLE fl_experiments (
  id TEXT PRIMARY KEY,
  seq BIGSERIAL NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('created', 'running', 'completed', 'failed', 'stopped')),
  reason TEXT,
  -- Everything the request fixed (rounds, k, deadline, policies, workload artifact, args, data volume).
  spec JSONB NOT NULL,
  current_round INTEGER NOT NULL DEFAULT 0,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  started_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ
);
CREATE INDEX fl_experiments_running ON fl_experiments (state) WHERE state = 'running';

CREATE TABLE fl_participants (
  experiment_id TEXT NOT NULL REFERENCES fl_experiments (id) ON DELETE CASCADE,
  proplet_id TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'excluded')),
  reason TEXT,
  PRIMARY KEY (experiment_id, proplet_id)
);

CREATE TABLE fl_models (
  experiment_id TEXT NOT NULL REFERENCES fl_experiments (id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  round INTEGER,
  digest TEXT NOT NULL,
  -- The canonical encoding (protocol/fl.ts encodeModel) the digest is taken over, verbatim.
  encoded TEXT NOT NULL,
  samples BIGINT NOT NULL DEFAULT 0,
  -- [{propletId, digest, samples}] in aggregation order.
  updates JSONB NOT NULL DEFAULT '[]'::jsonb,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (experiment_id, version)
);

CREATE TABLE fl_rounds (
  experiment_id TEXT NOT NULL REFERENCES fl_experiments (id) ON DELETE CASCADE,
  round INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('opening', 'training', 'completed', 'failed')),
  reason TEXT,
  base_version INTEGER NOT NULL,
  model_version INTEGER,
  started_at TIMESTAMPTZ NOT NULL,
  deadline_at TIMESTAMPTZ NOT NULL,
  opened_at TIMESTAMPTZ,
  closed_at TIMESTAMPTZ,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (experiment_id, round)
);

CREATE TABLE fl_updates (
  experiment_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  proplet_id TEXT NOT NULL,
  task_id TEXT,
  run_id TEXT,
  state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'missing')),
  reason TEXT,
  digest TEXT,
  samples BIGINT,
  attested BOOLEAN,
  -- The accepted update's weights (JSON array): what the aggregation used, never training data.
  weights JSONB,
  finished_at TIMESTAMPTZ,
  PRIMARY KEY (experiment_id, round, proplet_id),
  FOREIGN KEY (experiment_id, round) REFERENCES fl_rounds (experiment_id, round) ON DELETE CASCADE
);
CREATE INDEX fl_updates_by_task ON fl_updates (task_id);
