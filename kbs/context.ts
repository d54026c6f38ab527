import type { Logger } from "pino";
import type { Database } from "../db/index.js";
import type { Verifier } from "../attestation/verifier.js";
import { loadVerifier } from "../attestation/registry.js";
import type { KbsConfig } from "./config.js";
import { Envelope } from "./crypto/envelope.js";
import { KbsMetrics } from "./metrics.js";
import { AuditLog } from "./store/audit.js";
import { PolicyStore } from "./store/policies.js";
import { ReferenceValueStore } from "./store/reference-values.js";
import { ResourceStore } from "./store/resources.js";
import { SessionStore } from "./store/sessions.js";
import { SigningKeyStore } from "./store/signing-keys.js";

/** Everything a KBS request handler needs, built once at start. */
export interface KbsContext {
  config: KbsConfig;
  db: Database;
  logger: Logger;
  sessions: SessionStore;
  resources: ResourceStore;
  policies: PolicyStore;
  referenceValues: ReferenceValueStore;
  signingKeys: SigningKeyStore;
  audit: AuditLog;
  metrics: KbsMetrics;
  verifier(tee: string): Promise<Verifier>;
}

export function createContext(config: KbsConfig, db: Database, logger: Logger, verifierOverrides: Partial<Record<string, Verifier>> = {}): KbsContext {
  const envelope = new Envelope(config.masterKey);
  const loaded = new Map<string, Promise<Verifier>>();
  return {
    config,
    db,
    logger,
    sessions: new SessionStore(db),
    resources: new ResourceStore(db, envelope),
    policies: new PolicyStore(db),
    referenceValues: new ReferenceValueStore(db),
    signingKeys: new SigningKeyStore(db, envelope, config.signingKeyRotationSeconds, config.tokenLifetimeSeconds),
    audit: new AuditLog(db),
    metrics: new KbsMetrics(),
    verifier(tee) {
      const override = verifierOverrides[tee];
      if (override) return Promise.resolve(override);
      let pending = loaded.get(tee);
      if (!pending) {
        const options = { ...((config.verifiers as Record<string, unknown>)[tee] as Record<string, unknown> | undefined), logger };
        pending = loadVerifier(tee, options, logger);
        // A failed load is not cached: the module may appear (or be fixed) without a restart.
        pending.catch(() => loaded.delete(tee));
        loaded.set(tee, pending);
      }
      return pending;
    },
  };
}
