-- Request counts of the rate limit, shared by every KBS process on this database, so a client
-- gets the configured number of requests per window from the whole deployment, not from each
-- replica. One row per client and route; a window is fixed (it starts at the first request).
CREATE TABLE kbs_rate_limits (
  key TEXT PRIMARY KEY CHECK (length(key) <= 512),
  count INTEGER NOT NULL,
  window_end TIMESTAMPTZ NOT NULL
);
CREATE INDEX kbs_rate_limits_window_end ON kbs_rate_limits (window_end);
