import type { Logger } from "pino";
import type { Database } from "../db/index.js";
import type { Verifier } from "../attestation/index.js";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { loadVerifier, UnsupportedTeeError } from "../attestation/index.js";
import { validateTeePolicy } from "../attestation/appraisal/index.js";
import type { KbsConfig } from "./config.js";
import { Envelope } from "./crypto/envelope.js";
import { KbsMetrics } from "./metrics.js";
import { AuditLog } from "./store/audit.js";
import { PolicyStore } from "./store/policies.js";
import { ReferenceValueStore } from "./store/reference-values.js";
import { ResourceStore } from "./store/resources.js";
import { SessionStore } from "./store/sessions.js";
import { SigningKeyStore } from "./store/signing-keys.js";
import { SigningKeyFiles, type SigningKeySource } from "./store/signing-key-files.js";
import { messageOf } from "../lib/errors.js";

/** Everything a KBS request handler needs, built once at start. */
export interface KbsContext {
  config: KbsConfig;
  db: Database;
  logger: Logger;
  sessions: SessionStore;
  resources: ResourceStore;
  policies: PolicyStore;
  referenceValues: ReferenceValueStore;
  signingKeys: SigningKeySource;
  audit: AuditLog;
  metrics: KbsMetrics;
  verifier(tee: string): Promise<Verifier>;
  /** The TEE's own appraisal rules' policy (`verifiers.<tee>.policy`, validated), or undefined for their defaults. */
  teePolicy(tee: string): unknown;
}

export function createContext(config: KbsConfig, db: Database, logger: Logger, verifierOverrides: Partial<Record<string, Verifier>> = {}): KbsContext {
  const envelope = new Envelope(config.masterKey);
  const loaded = new Map<string, Promise<Verifier>>();
  const teePolicies = new Map<string, unknown>();
  for (const [tee, options] of Object.entries(config.verifiers as Record<string, Record<string, unknown> | undefined>)) {
    if (options?.policy !== undefined) teePolicies.set(tee, validateTeePolicy(tee, options.policy));
  }
  return {
    config,
    db,
    logger,
    sessions: new SessionStore(db),
    resources: new ResourceStore(db, envelope),
    policies: new PolicyStore(db),
    referenceValues: new ReferenceValueStore(db),
    signingKeys: config.signingKeysDir
      ? new SigningKeyFiles(config.signingKeysDir)
      : new SigningKeyStore(db, envelope, config.signingKeyRotationSeconds, config.tokenLifetimeSeconds),
    audit: new AuditLog(db),
    metrics: new KbsMetrics(),
    teePolicy: (tee) => teePolicies.get(tee),
    verifier(tee) {
      const override = verifierOverrides[tee];
      if (override) return Promise.resolve(override);
      let pending = loaded.get(tee);
      if (!pending) {
        pending = verifierOptions(config, tee).then((options) => loadVerifier(tee, { ...options, logger }, logger));
        // A failed load is not cached: the module may appear (or be fixed) without a restart.
        pending.catch(() => loaded.delete(tee));
        loaded.set(tee, pending);
      }
      return pending;
    },
  };
}

/**
 * The configured options of one TEE's verifier, with file-based settings turned into what the
 * verifier takes: `tdx.collateralDir` → Intel collateral (TCB Info, QE Identity, TCB signing
 * chain, CRLs) read from that folder; `snp.crlFiles` → AMD KDS CRLs read from those files.
 */
async function verifierOptions(config: KbsConfig, tee: string): Promise<Record<string, unknown>> {
  const options = { ...((config.verifiers as Record<string, unknown>)[tee] as Record<string, unknown> | undefined) };
  // The policy is the appraisal stage's (teePolicy), not the verifier's.
  delete options.policy;
  if (tee === "tdx" && typeof options.trustAnchorFile === "string") {
    const file = options.trustAnchorFile;
    delete options.trustAnchorFile;
    try {
      options.trustAnchorPem = await readFile(file, "utf8");
    } catch (err) {
      throw new UnsupportedTeeError(tee, `its trust anchor ${file} cannot be read (${messageOf(err)})`);
    }
  }
  if (tee === "snp" && options.crlFiles !== undefined) {
    // AMD KDS CRL downloads (e.g. /vcek/v1/Milan/crl); the verifier parses and checks them.
    const files = options.crlFiles;
    delete options.crlFiles;
    if (!Array.isArray(files) || files.length > 16 || !files.every((f): f is string => typeof f === "string")) {
      throw new UnsupportedTeeError(tee, "its crlFiles must be a list of at most 16 file paths");
    }
    options.crls = await Promise.all(
      files.map(async (file) => {
        try {
          return await readFile(file);
        } catch (err) {
          throw new UnsupportedTeeError(tee, `its CRL ${file} cannot be read (${messageOf(err)})`);
        }
      }),
    );
  }
  if (tee === "tdx" && typeof options.collateralDir === "string") {
    const dir = options.collateralDir;
    delete options.collateralDir;
    try {
      const names = (await readdir(dir)).filter((n) => !n.startsWith(".")).slice(0, 32);
      const files = await Promise.all(names.map(async (name) => ({ name, bytes: await readFile(join(dir, name)) })));
      const { collateralFromFiles } = (await import("../attestation/tdx/index.js")) as { collateralFromFiles: (f: typeof files) => unknown };
      options.collateral = collateralFromFiles(files);
    } catch (err) {
      throw new UnsupportedTeeError(tee, `its collateral in ${dir} cannot be used (${messageOf(err)})`);
    }
  }
  return options;
}
