-- Key Broker Service store. Several KBS processes share one database: every lookup is by an
-- indexed key, nonce consumption is one atomic UPDATE, and nothing here holds a secret in plaintext.

-- One row per /auth: the challenge nonce is single-use (nonce_used flips once, atomically).
CREATE TABLE kbs_sessions (
  id TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
  tee TEXT NOT NULL,
  nonce TEXT NOT NULL,
  nonce_used BOOLEAN NOT NULL DEFAULT false,
  client TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  expires_at TIMESTAMPTZ NOT NULL,
  -- The EAR token issued after a successful /attest (a signed statement, useless without the
  -- attested private key the resource JWE is encrypted to).
  token TEXT,
  attested_at TIMESTAMPTZ
);
CREATE INDEX kbs_sessions_expires_at ON kbs_sessions (expires_at);

-- Secrets, envelope-encrypted: a per-resource data key (AES-256-GCM) encrypts the bytes, the master
-- key wraps the data key; the resource path is the AAD of both, so rows cannot be swapped.
CREATE TABLE kbs_resources (
  path TEXT PRIMARY KEY,
  ciphertext BYTEA NOT NULL,
  wrapped_key BYTEA NOT NULL,
  master_key_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  content_type TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_by TEXT NOT NULL
);

-- Declarative per-resource policy (kbs/policy). No row: the resource is never released.
CREATE TABLE kbs_resource_policies (
  path TEXT PRIMARY KEY,
  policy JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_by TEXT NOT NULL
);

-- Per-TEE appraisal policy (attestation/appraisal). No row: the built-in default.
CREATE TABLE kbs_attestation_policies (
  tee TEXT PRIMARY KEY,
  policy JSONB NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_by TEXT NOT NULL
);

-- Reference values: a claim (JSON pointer into the TEE's claims) and the values it may take, with
-- an expiry that appraisal enforces.
CREATE TABLE kbs_reference_values (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tee TEXT NOT NULL,
  claim TEXT NOT NULL,
  value JSONB NOT NULL,
  expires_at TIMESTAMPTZ NOT NULL,
  note TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  created_by TEXT NOT NULL
);
CREATE INDEX kbs_reference_values_tee ON kbs_reference_values (tee, claim);

-- EAR token signing keys (ES256). The private key is wrapped by the master key. A key signs until
-- sign_until and is published in the JWKS until publish_until (sign_until + the token lifetime),
-- so tokens it signed stay verifiable until they expire.
CREATE TABLE kbs_signing_keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  public_jwk JSONB NOT NULL,
  private_wrapped BYTEA NOT NULL,
  master_key_id TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  sign_until TIMESTAMPTZ NOT NULL,
  publish_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX kbs_signing_keys_publish ON kbs_signing_keys (publish_until);

-- Append-only audit log: who, what, when, why. Never a secret.
CREATE TABLE kbs_audit (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT now(),
  event TEXT NOT NULL,
  outcome TEXT NOT NULL,
  actor TEXT,
  subject TEXT,
  reason TEXT,
  client TEXT,
  details JSONB
);
CREATE INDEX kbs_audit_at ON kbs_audit (at);
CREATE INDEX kbs_audit_event ON kbs_audit (event, at);

CREATE FUNCTION kbs_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'kbs_audit is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER kbs_audit_no_update BEFORE UPDATE OR DELETE ON kbs_audit
  FOR EACH ROW EXECUTE FUNCTION kbs_audit_append_only();

CREATE TRIGGER kbs_audit_no_truncate BEFORE TRUNCATE ON kbs_audit
  FOR EACH STATEMENT EXECUTE FUNCTION kbs_audit_append_only();
