-- Failed authentications per client address, shared by every manager on this database: a client
-- guessing credentials against several replicas is counted once, not once per replica. One row
-- per address; a window is fixed (it starts at the first failure).
CREATE TABLE auth_failures (
  client TEXT PRIMARY KEY CHECK (length(client) <= 256),
  count INTEGER NOT NULL,
  window_end TIMESTAMPTZ NOT NULL
);
CREATE INDEX auth_failures_window_end ON auth_failures (window_end);
