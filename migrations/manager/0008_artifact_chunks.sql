-- Artifacts larger than a task.start can carry: uploaded with PUT /artifacts/{digest} and stored in
-- fixed-size chunks, so neither the upload nor a proplet's chunk request (MQTT delivery) ever holds
-- a whole artifact in memory. chunk_size NULL: the bytes are in artifacts.data (inline artifacts).
ALTER TABLE artifacts ADD COLUMN chunk_size INTEGER CHECK (chunk_size IS NULL OR chunk_size > 0);

CREATE TABLE artifact_chunks (
  digest TEXT NOT NULL REFERENCES artifacts (digest) ON DELETE CASCADE,
  idx INTEGER NOT NULL CHECK (idx >= 0),
  data BYTEA NOT NULL,
  PRIMARY KEY (digest, idx)
);
-- Wasm barely compresses; stored uncompressed, one chunk is read without decompressing anything else.
ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
