-- The transparency log of receipts (docs/transparency.md): an append-only RFC 9162 Merkle tree.
-- tlog_pending: receipts queued in the same transaction that stores them, so none is lost between
--   storing and appending; a sequencer moves them into the tree in batches.
-- tlog_head: the tree size; its one row is locked FOR UPDATE by whoever appends, so several
--   managers append to one tree without forks.
-- tlog_nodes: the hash of every complete subtree (level L, index N covers leaves [N·2^L, (N+1)·2^L)),
--   so tiles are one range read and any proof is at most ~2·log2(n) lookups.
-- tlog_checkpoints: signed tree heads; the primary key on size means never two roots for one size.
CREATE TABLE IF NOT EXISTS tlog_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO tlog_head (id, size) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS tlog_pending (
  seq BIGSERIAL PRIMARY KEY,
  run_id TEXT NOT NULL UNIQUE,
  entry BYTEA NOT NULL,
  queued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tlog_entries (
  idx BIGINT PRIMARY KEY CHECK (idx >= 0),
  run_id TEXT NOT NULL UNIQUE,
  entry BYTEA NOT NULL,
  appended_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tlog_nodes (
  level SMALLINT NOT NULL CHECK (level >= 0 AND level < 64),
  idx BIGINT NOT NULL CHECK (idx >= 0),
  hash BYTEA NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS tlog_checkpoints (
  size BIGINT PRIMARY KEY CHECK (size >= 0),
  root BYTEA NOT NULL CHECK (length(root) = 32),
  note TEXT NOT NULL,
  issued_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The log's Ed25519 key when the configuration gives none: generated once, shared by every manager
-- on this database (one log, one key).
CREATE TABLE IF NOT EXISTS tlog_key (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  origin TEXT NOT NULL,
  seed BYTEA NOT NULL CHECK (length(seed) = 32),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
