-- Each proplet's liveness changes (came online, went gone and why), newest kept: the dashboard's
-- fleet history and GET /proplets/{id}/liveness. Written where the proplets row flips, so a change
-- is recorded once even with several managers; pruned to the newest 50 per proplet on insert.
CREATE TABLE proplet_liveness (
  id BIGSERIAL PRIMARY KEY,
  proplet_id TEXT NOT NULL REFERENCES proplets (id) ON DELETE CASCADE,
  event TEXT NOT NULL CHECK (event IN ('online', 'gone')),
  reason TEXT,
  at TIMESTAMPTZ NOT NULL
);
CREATE INDEX proplet_liveness_by_proplet ON proplet_liveness (proplet_id, id DESC);
