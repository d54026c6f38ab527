-- Scheduling: a priority queue with aging, retry backoff, broadcast groups, cron ticks.
-- Applied alike to PostgreSQL and PGlite.

-- 0 (lowest) .. 100 (highest); copied from the spec so the queue can be ordered in SQL.
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100);
-- The next cron tick of a scheduled task (NULL: no schedule). Claimed with FOR UPDATE SKIP LOCKED.
ALTER TABLE tasks ADD COLUMN next_tick_at TIMESTAMPTZ;
CREATE INDEX tasks_next_tick ON tasks (next_tick_at) WHERE next_tick_at IS NOT NULL;

-- A retry waits out its backoff: the scheduler does not place a run before this time.
ALTER TABLE runs ADD COLUMN not_before TIMESTAMPTZ;
-- The n-th try of one start: 1 for a started run, +1 for each retry (bounded by the task's retry policy).
ALTER TABLE runs ADD COLUMN try_number INTEGER NOT NULL DEFAULT 1 CHECK (try_number >= 1);
-- Broadcast: every run of one fan-out shares a group id and is pinned to one proplet.
ALTER TABLE runs ADD COLUMN group_id TEXT;
ALTER TABLE runs ADD COLUMN pinned_proplet TEXT;
CREATE INDEX runs_by_group ON runs (group_id) WHERE group_id IS NOT NULL;
-- Queued runs are claimed in (effective priority, age) order; this keeps the candidate scan small.
CREATE INDEX runs_queued ON runs (created_at, id) WHERE state = 'queued';
