import { readFile } from "node:fs/promises";
import { createPublicKey, type KeyObject } from "node:crypto";
import { Type, type Static, type TOptional, type TRecord, type TString, type TUnknown } from "@sinclair/typebox";
import type { TeeType } from "../protocol/index.js";
import { Value } from "@sinclair/typebox/value";
import { KbsConfigError } from "./errors.js";
import { messageOf } from "../lib/errors.js";
import { verifiableTees } from "../attestation/index.js";
import { validateTeePolicy } from "../attestation/appraisal/index.js";

export const ADMIN_ROLES = ["admin", "resource-writer", "reader"] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

const Seconds = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max });

const AdminKeySchema = Type.Object(
  {
    /** Names the key in audit rows (`actor`) and matches the admin token's `kid` header when set. */
    id: Type.String({ pattern: "^[A-Za-z0-9._-]{1,64}$" }),
    /** Public key: a JWK object (OKP Ed25519 or EC P-256), a PEM string, or `file:` + path to a PEM/JWK file. */
    publicKey: Type.Union([Type.String({ minLength: 1, maxLength: 16384 }), Type.Record(Type.String(), Type.Unknown())]),
    roles: Type.Array(Type.Union(ADMIN_ROLES.map((r) => Type.Literal(r))), { minItems: 1, uniqueItems: true }),
  },
  { additionalProperties: false },
);

/** TPM verifier options, typed here because the KBS checks `acceptAnyAk` against development mode. */
const TpmVerifierOptionsSchema = Type.Object(
  {
    /** SHA-256 fingerprints of enrolled TPM attestation keys (the AK allow-list). */
    trustedAkFingerprints: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 10000 })),
    /** Development only: accept any AK (claims then say ak_trusted: false). Refused outside development mode. */
    acceptAnyAk: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: true },
);

/**
 * Per TEE with a verifier (attestation's TEE table): the options handed to its verifier
 * (attestation/registry.ts), which validates its own, plus `policy`, the TEE's own appraisal rules
 * (appraisal/tee-policy.ts; e.g. SNP's `allowedVmpls`, TDX's `tcbStatus`), checked at load. TDX
 * also takes `collateralDir` (a folder of Intel collateral files) and `trustAnchorFile` (a PEM
 * replacing the pinned Intel SGX Root CA). The AMD roots are the ones pinned in attestation/roots/amd.
 */
const teeOptions = (): TOptional<TRecord<TString, TUnknown>> => Type.Optional(Type.Record(Type.String(), Type.Unknown()));
// Typed as every TEE so options read type-check; the schema itself has only the verifiable ones.
const perTeeOptions = Object.fromEntries(verifiableTees().map((tee) => [tee, teeOptions()])) as Record<TeeType, ReturnType<typeof teeOptions>>;
const VerifierOptionsSchema = Type.Object(
  { ...perTeeOptions, tpm: Type.Optional(TpmVerifierOptionsSchema) },
  { additionalProperties: false },
);

export const KbsConfigSchema = Type.Object(
  {
    listen: Type.Object({ host: Type.String({ minLength: 1, maxLength: 255 }), port: Type.Integer({ minimum: 0, maximum: 65535 }) }, { additionalProperties: false }),
    /** postgres://… or pglite://memory or pglite://<folder> (db/open.ts). */
    databaseUrl: Type.String({ pattern: "^(postgres(ql)?://|pglite:)", maxLength: 2048 }),
    /** Explicit development mode: the only way the sample TEE is accepted. */
    developmentMode: Type.Boolean(),
    /** `iss` of issued EAR tokens (the same on every replica); default "propeller-kbs". */
    issuer: Type.String({ minLength: 1, maxLength: 512 }),
    /** `aud` of issued EAR tokens. */
    audience: Type.String({ minLength: 1, maxLength: 512 }),
    tokenLifetimeSeconds: Seconds(1, 24 * 3600),
    sessionLifetimeSeconds: Seconds(1, 3600),
    /** How long one signing key signs before a new one takes over. */
    signingKeyRotationSeconds: Seconds(60, 365 * 24 * 3600),
    /**
     * Folder of operator-managed ES256 signing keys (`*.pem`, EC P-256; the last by name signs, all
     * are published). Unset: keys are generated, wrapped by the master key and rotated in the database.
     */
    signingKeysDir: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    /** Base64 of exactly 32 bytes. Resolved from `masterKeyFile` or the environment by `resolveKbsConfig`. */
    masterKey: Type.String({ pattern: "^[A-Za-z0-9+/]{43}=$" }),
    admin: Type.Object(
      {
        keys: Type.Array(AdminKeySchema, { maxItems: 100 }),
        /** Longest `exp - iat` an admin token may have. */
        maxTokenLifetimeSeconds: Seconds(10, 24 * 3600),
      },
      { additionalProperties: false },
    ),
    limits: Type.Object(
      {
        resourceBytes: Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024 }),
        /** Largest JSON body (attest evidence, policies). */
        jsonBodyBytes: Type.Integer({ minimum: 1024, maximum: 16 * 1024 * 1024 }),
      },
      { additionalProperties: false },
    ),
    rateLimit: Type.Object(
      {
        max: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
        windowMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
        /**
         * Where the counts live: "database" (default) shares them between every KBS on the database,
         * so replicas enforce one limit; "memory" counts per process (a lone KBS saves a query).
         */
        store: Type.Union([Type.Literal("database"), Type.Literal("memory")]),
      },
      { additionalProperties: false },
    ),
    verifiers: VerifierOptionsSchema,
    /** Serve HTTPS with this certificate (PEM, leaf first; chain allowed) and key. Unset: plain HTTP (behind a TLS proxy, or loopback). */
    tls: Type.Optional(Type.Object({ certFile: Type.String({ minLength: 1, maxLength: 4096 }), keyFile: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false })),
    /** Trust X-Forwarded-For from these proxies (addresses/CIDRs) for rate limits and audit; default none. */
    trustProxy: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 })),
  },
  { additionalProperties: false },
);

export type KbsConfig = Static<typeof KbsConfigSchema>;

/** What a caller gives: everything optional except what has no safe default. */
export type KbsConfigInput = Partial<Omit<KbsConfig, "admin" | "limits" | "rateLimit" | "listen" | "masterKey">> & {
  listen?: Partial<KbsConfig["listen"]>;
  admin?: Partial<KbsConfig["admin"]>;
  limits?: Partial<KbsConfig["limits"]>;
  rateLimit?: Partial<KbsConfig["rateLimit"]>;
  masterKey?: string;
  /** A file holding the base64 master key (alternative to `masterKey`). */
  masterKeyFile?: string;
};

export const KBS_DEFAULTS = {
  listen: { host: "127.0.0.1", port: 8080 },
  databaseUrl: "pglite://memory",
  developmentMode: false,
  audience: "propeller",
  tokenLifetimeSeconds: 300,
  sessionLifetimeSeconds: 120,
  signingKeyRotationSeconds: 7 * 24 * 3600,
  admin: { keys: [], maxTokenLifetimeSeconds: 3600 },
  limits: { resourceBytes: 1024 * 1024, jsonBodyBytes: 1024 * 1024 },
  rateLimit: { max: 60, windowMs: 60_000, store: "database" },
  verifiers: {},
} as const;

/**
 * Fills defaults, reads the master key (value, file, or `PROPELLER_KBS_MASTER_KEY` /
 * `PROPELLER_KBS_MASTER_KEY_FILE`), resolves admin key files, and validates everything at once.
 * Throws a KbsConfigError naming every bad value.
 */
export async function resolveKbsConfig(input: KbsConfigInput, env: NodeJS.ProcessEnv = process.env): Promise<KbsConfig> {
  const problems: string[] = [];
  let masterKey = input.masterKey ?? env.PROPELLER_KBS_MASTER_KEY;
  const masterKeyFile = input.masterKeyFile ?? env.PROPELLER_KBS_MASTER_KEY_FILE;
  if (masterKey === undefined && masterKeyFile !== undefined) {
    try {
      masterKey = (await readFile(masterKeyFile, "utf8")).trim();
    } catch (err) {
      problems.push(`masterKeyFile: cannot read ${masterKeyFile} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`);
    }
  }
  if (masterKey === undefined && problems.length === 0) {
    problems.push("masterKey: required (32 random bytes, base64), from masterKey, masterKeyFile, PROPELLER_KBS_MASTER_KEY or PROPELLER_KBS_MASTER_KEY_FILE; create one with `openssl rand -base64 32`");
  }

  const listen = { ...KBS_DEFAULTS.listen, ...input.listen };
  const adminKeys = [];
  for (const [i, key] of (input.admin?.keys ?? []).entries()) {
    if (typeof key.publicKey === "string" && key.publicKey.startsWith("file:")) {
      const path = key.publicKey.slice(5);
      try {
        const text = await readFile(path, "utf8");
        adminKeys.push({ ...key, publicKey: text.trim().startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : text });
      } catch (err) {
        problems.push(`admin.keys[${i}].publicKey: cannot read ${path} (${messageOf(err)})`);
      }
    } else adminKeys.push(key);
  }

  const candidate = {
    listen,
    databaseUrl: input.databaseUrl ?? KBS_DEFAULTS.databaseUrl,
    developmentMode: input.developmentMode ?? KBS_DEFAULTS.developmentMode,
    // One fixed default so replicas on different addresses issue interchangeable tokens.
    issuer: input.issuer ?? "propeller-kbs",
    audience: input.audience ?? KBS_DEFAULTS.audience,
    tokenLifetimeSeconds: input.tokenLifetimeSeconds ?? KBS_DEFAULTS.tokenLifetimeSeconds,
    sessionLifetimeSeconds: input.sessionLifetimeSeconds ?? KBS_DEFAULTS.sessionLifetimeSeconds,
    signingKeyRotationSeconds: input.signingKeyRotationSeconds ?? KBS_DEFAULTS.signingKeyRotationSeconds,
    masterKey: masterKey ?? "",
    admin: { keys: adminKeys, maxTokenLifetimeSeconds: input.admin?.maxTokenLifetimeSeconds ?? KBS_DEFAULTS.admin.maxTokenLifetimeSeconds },
    limits: { ...KBS_DEFAULTS.limits, ...input.limits },
    rateLimit: { ...KBS_DEFAULTS.rateLimit, ...input.rateLimit },
    verifiers: input.verifiers ?? {},
    ...(input.tls ? { tls: input.tls } : {}),
    ...(input.signingKeysDir ? { signingKeysDir: input.signingKeysDir } : {}),
    ...(input.trustProxy ? { trustProxy: input.trustProxy } : {}),
  };

  for (const error of Value.Errors(KbsConfigSchema, candidate)) {
    const where = error.path.replace(/^\//, "").replace(/\//g, ".") || "(root)";
    if (where === "masterKey" && problems.some((p) => p.startsWith("masterKey"))) continue;
    problems.push(`${where}: ${error.message}${where === "masterKey" ? " (base64 of exactly 32 bytes)" : ""}`);
  }
  for (const [i, key] of adminKeys.entries()) {
    try {
      adminPublicKey(key.publicKey);
    } catch (err) {
      problems.push(`admin.keys[${i}] (${key.id}): ${messageOf(err)}`);
    }
  }
  if (input.tls) {
    for (const [what, file] of [["certFile", input.tls.certFile], ["keyFile", input.tls.keyFile]] as const) {
      try {
        await readFile(file);
      } catch (err) {
        problems.push(`tls.${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`);
      }
    }
  }
  for (const [tee, options] of Object.entries(candidate.verifiers as Record<string, Record<string, unknown> | undefined>)) {
    if (options?.policy === undefined) continue;
    try {
      validateTeePolicy(tee, options.policy);
    } catch (err) {
      problems.push(`verifiers.${tee}.policy: ${messageOf(err)}`);
    }
  }
  if (candidate.verifiers.tpm?.acceptAnyAk === true && !candidate.developmentMode) {
    problems.push("verifiers.tpm.acceptAnyAk: only allowed in development mode");
  }
  if (problems.length > 0) throw new KbsConfigError(problems);
  return candidate as KbsConfig;
}

/** Imports an admin public key (JWK object or PEM); only Ed25519 (EdDSA) and P-256 (ES256) are accepted. */
export function adminPublicKey(value: string | Record<string, unknown>): KeyObject {
  let key: KeyObject;
  try {
    key = typeof value === "string" ? createPublicKey(value) : createPublicKey({ key: value as never, format: "jwk" });
  } catch (err) {
    throw new Error(`not a usable public key (${messageOf(err)})`);
  }
  if (key.type !== "public") throw new Error("a private key was given where a public key belongs");
  const ok = key.asymmetricKeyType === "ed25519" || (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1");
  if (!ok) throw new Error(`admin keys must be Ed25519 or EC P-256, not ${key.asymmetricKeyType}`);
  return key;
}

/**
 * The KBS settings the environment can give (the CLI adds its flags on top):
 * PROPELLER_KBS_LISTEN (host:port), PROPELLER_KBS_DATABASE_URL, PROPELLER_KBS_DEVELOPMENT (true/false),
 * PROPELLER_KBS_ISSUER, PROPELLER_KBS_AUDIENCE, PROPELLER_KBS_TOKEN_LIFETIME, PROPELLER_KBS_SESSION_LIFETIME,
 * PROPELLER_KBS_ADMIN_KEYS (JSON array of {id, publicKey, roles}; publicKey may be "file:<path>"),
 * PROPELLER_KBS_TPM_AK_FINGERPRINTS (comma-separated), PROPELLER_KBS_MASTER_KEY / _FILE (read by resolveKbsConfig).
 * A malformed value is reported by resolveKbsConfig's validation, or here when it cannot be parsed.
 */
export function kbsConfigFromEnv(env: NodeJS.ProcessEnv = process.env): KbsConfigInput {
  const problems: string[] = [];
  const input: KbsConfigInput = {};
  const int = (name: string): number | undefined => {
    const v = env[name];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v)) problems.push(`${name}: "${v}" is not a whole number`);
    return Number(v);
  };
  if (env.PROPELLER_KBS_LISTEN) {
    const m = /^(.+):(\d{1,5})$/.exec(env.PROPELLER_KBS_LISTEN);
    if (!m) problems.push(`PROPELLER_KBS_LISTEN: "${env.PROPELLER_KBS_LISTEN}" is not host:port`);
    else input.listen = { host: m[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(m[2]) };
  }
  if (env.PROPELLER_KBS_DATABASE_URL) input.databaseUrl = env.PROPELLER_KBS_DATABASE_URL;
  if (env.PROPELLER_KBS_DEVELOPMENT !== undefined) {
    if (!["true", "false"].includes(env.PROPELLER_KBS_DEVELOPMENT)) problems.push("PROPELLER_KBS_DEVELOPMENT: must be true or false");
    input.developmentMode = env.PROPELLER_KBS_DEVELOPMENT === "true";
  }
  if (env.PROPELLER_KBS_ISSUER) input.issuer = env.PROPELLER_KBS_ISSUER;
  if (env.PROPELLER_KBS_AUDIENCE) input.audience = env.PROPELLER_KBS_AUDIENCE;
  const token = int("PROPELLER_KBS_TOKEN_LIFETIME");
  if (token !== undefined) input.tokenLifetimeSeconds = token;
  const session = int("PROPELLER_KBS_SESSION_LIFETIME");
  if (session !== undefined) input.sessionLifetimeSeconds = session;
  if (env.PROPELLER_KBS_ADMIN_KEYS) {
    try {
      input.admin = { keys: JSON.parse(env.PROPELLER_KBS_ADMIN_KEYS) as KbsConfig["admin"]["keys"] };
    } catch {
      problems.push("PROPELLER_KBS_ADMIN_KEYS: not a JSON array of {id, publicKey, roles}");
    }
  }
  if (env.PROPELLER_KBS_TPM_AK_FINGERPRINTS) {
    input.verifiers = { tpm: { trustedAkFingerprints: env.PROPELLER_KBS_TPM_AK_FINGERPRINTS.split(",").map((s) => s.trim()).filter(Boolean) } };
  }
  if (problems.length > 0) throw new KbsConfigError(problems);
  return input;
}
