import { randomBytes, randomUUID, createPublicKey } from "node:crypto";
import { appraiseEvidence } from "../../attestation/appraisal/index.js";
import { AttestationPolicySchema, defaultAttestationPolicy, type AttestationPolicy } from "../../attestation/appraisal/index.js";
import { buildEarClaims } from "../../attestation/ear/index.js";
import { signEar } from "../../attestation/ear/index.js";
import { UnsupportedTeeError } from "../../attestation/index.js";
import type { VerificationResult } from "../../attestation/index.js";
import { Value } from "@sinclair/typebox/value";
import type { KbsContext } from "../context.js";
import { KbsError } from "../errors.js";
import { KBS_PROTOCOL_VERSION } from "../../protocol/kbs.js";
import { expectedReportData, isDevelopmentOnlyTee } from "../../protocol/index.js";
import { runtimeDataHash } from "./report-data.js";
import { messageOf } from "../../lib/errors.js";

export const VERIFIER_ID = { developer: "propeller-kbs", build: "propeller 0.1.0" } as const;

export interface AuthResult {
  sessionId: string;
  nonce: string;
}

/** POST /auth: checks version and TEE, opens a session with a fresh single-use nonce. */
export async function startSession(ctx: KbsContext, request: { version: string; tee: string }, client: string): Promise<AuthResult> {
  const deny = async (error: KbsError) => {
    ctx.metrics.auth.inc({ tee: safeLabel(request.tee), outcome: error.variant });
    await ctx.audit.record({ event: "auth", outcome: "denied", subject: request.tee.slice(0, 64), reason: error.message, client });
    error.audited = true;
    return error;
  };
  if (request.version !== KBS_PROTOCOL_VERSION) {
    throw await deny(new KbsError("ProtocolVersion", `KBS protocol version "${request.version.slice(0, 32)}" is not supported; this KBS supports version ${KBS_PROTOCOL_VERSION} only`));
  }
  if (isDevelopmentOnlyTee(request.tee) && !ctx.config.developmentMode) {
    throw await deny(new KbsError("TeeNotAllowed", `the ${request.tee} TEE has no hardware root of trust and is accepted only when the KBS runs in development mode`));
  }
  try {
    await ctx.verifier(request.tee);
  } catch (err) {
    if (err instanceof UnsupportedTeeError) throw await deny(new KbsError("UnsupportedTee", err.message));
    throw err;
  }
  const sessionId = randomBytes(16).toString("hex");
  const nonce = randomBytes(32).toString("base64");
  await ctx.sessions.create({ id: sessionId, tee: request.tee, nonce, client, lifetimeSeconds: ctx.config.sessionLifetimeSeconds });
  ctx.metrics.auth.inc({ tee: request.tee, outcome: "ok" });
  return { sessionId, nonce };
}

export interface AttestRequest {
  "runtime-data": Record<string, unknown>;
  "tee-evidence": { primary_evidence: unknown; additional_evidence?: string };
  "init-data"?: { format: string; body: string } | undefined;
}

export interface AttestOutcome {
  token: string;
  status: string;
  tee: string;
}

/**
 * POST /attest: consumes the session's nonce (atomically, once), checks the runtime data, runs the
 * TEE's verifier against the expected report data, appraises, and signs an EAR token. A
 * verification failure still yields a token, with status contraindicated (as Trustee does): no
 * resource policy releases anything to it, and the caller can read why.
 */
export async function attest(ctx: KbsContext, sessionId: string, body: AttestRequest, client: string): Promise<AttestOutcome> {
  const started = process.hrtime.bigint();
  const consumed = sessionId === "-" ? ({ ok: false, reason: "unknown" } as const) : await ctx.sessions.consumeNonce(sessionId);
  const deny = async (error: KbsError, tee = "unknown", details?: Record<string, unknown>) => {
    ctx.metrics.attest.inc({ tee: safeLabel(tee), status: error.variant });
    await ctx.audit.record({ event: "attest", outcome: "denied", actor: `session:${sessionId}`, subject: tee, reason: error.message, client, details });
    error.audited = true;
    return error;
  };
  if (!consumed.ok) {
    if (consumed.reason === "unknown") throw await deny(new KbsError("UnAuthenticatedCookie", "no KBS session (the kbs-session-id cookie is missing or unknown); call /kbs/v0/auth first"));
    if (consumed.reason === "expired") throw await deny(new KbsError("ExpiredCookie", "the KBS session has expired; call /kbs/v0/auth again"));
    throw await deny(new KbsError("NonceReused", "this session's nonce has already been used; nonces are single-use, call /kbs/v0/auth again"));
  }
  const { session } = consumed;
  const runtimeData = body["runtime-data"];
  if (runtimeData.nonce !== session.nonce) {
    throw await deny(new KbsError("NonceMismatch", "runtime-data nonce is not the nonce this session issued; call /kbs/v0/auth again"), session.tee);
  }
  if (isDevelopmentOnlyTee(session.tee) && !ctx.config.developmentMode) {
    throw await deny(new KbsError("TeeNotAllowed", `the ${session.tee} TEE is accepted only in development mode`), session.tee);
  }
  try {
    checkTeePubkey(runtimeData["tee-pubkey"]);
  } catch (err) {
    throw err instanceof KbsError ? await deny(err, session.tee) : err;
  }
  const additional = body["tee-evidence"].additional_evidence ?? "";
  if (runtimeData["additional-evidence"] !== undefined && runtimeData["additional-evidence"] !== additional) {
    throw await deny(new KbsError("InvalidRuntimeData", "runtime-data additional-evidence differs from tee-evidence additional_evidence"), session.tee);
  }
  const hash = runtimeDataHash(runtimeData, additional);

  let verification: VerificationResult | { error: string };
  try {
    const verifier = await ctx.verifier(session.tee);
    verification = await verifier.verify(body["tee-evidence"].primary_evidence, { reportData: expectedReportData(session.tee, hash) });
  } catch (err) {
    verification = { error: err instanceof Error ? err.message : String(err) };
  }
  const policy = await attestationPolicy(ctx, session.tee);
  const referenceValues = await ctx.referenceValues.forTee(session.tee);
  const appraisal = appraiseEvidence({ tee: session.tee, verification, teePolicy: ctx.teePolicy(session.tee), policy, referenceValues, developmentMode: ctx.config.developmentMode });

  const jti = randomUUID();
  const claims = buildEarClaims({
    issuer: ctx.config.issuer,
    audience: ctx.config.audience,
    lifetimeSeconds: ctx.config.tokenLifetimeSeconds,
    jti,
    verifierId: appraisal.development ? { developer: `propeller-kbs (DEVELOPMENT MODE: ${session.tee} TEE, no hardware root of trust)`, build: VERIFIER_ID.build } : { ...VERIFIER_ID },
    status: appraisal.status,
    trustVector: appraisal.trustVector,
    policyId: appraisal.policyId,
    tee: session.tee,
    teeClaims: appraisal.claims,
    runtimeData,
    initData: body["init-data"] ? { format: body["init-data"].format, body: body["init-data"].body } : undefined,
    checks: appraisal.checks,
    development: appraisal.development,
  });
  const token = await signEar(claims, await ctx.signingKeys.signingKey());
  await ctx.sessions.attach(session.id, token, claims.exp);
  const failed = appraisal.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? "failed"}`);
  await ctx.audit.record({
    event: "attest",
    outcome: appraisal.status === "affirming" ? "ok" : "denied",
    actor: `session:${session.id}`,
    subject: session.tee,
    reason: failed.length ? failed.join("; ") : `ear.status ${appraisal.status}`,
    client,
    details: { jti, status: appraisal.status, policy: appraisal.policyId, vector: appraisal.trustVector, development: appraisal.development },
  });
  ctx.metrics.attest.inc({ tee: session.tee, status: appraisal.status });
  ctx.metrics.attestSeconds.observe({ tee: session.tee }, Number(process.hrtime.bigint() - started) / 1e9);
  ctx.logger.info({ tee: session.tee, status: appraisal.status, jti, failed: failed.length }, "attestation appraised");
  return { token, status: appraisal.status, tee: session.tee };
}

async function attestationPolicy(ctx: KbsContext, tee: string): Promise<AttestationPolicy> {
  const stored = await ctx.policies.attestationPolicy<AttestationPolicy>(tee);
  if (stored && Value.Check(AttestationPolicySchema, stored.policy)) return { ...defaultAttestationPolicy(tee), ...stored.policy };
  return defaultAttestationPolicy(tee);
}

/** The attested key must be a public key we can encrypt to: EC P-256/P-384/P-521 or RSA ≥ 2048. */
function checkTeePubkey(jwk: unknown): void {
  if (!jwk || typeof jwk !== "object" || Array.isArray(jwk)) throw new KbsError("InvalidRuntimeData", "runtime-data has no tee-pubkey object");
  const key = jwk as Record<string, unknown>;
  if ("d" in key || "p" in key) throw new KbsError("InvalidRuntimeData", "tee-pubkey contains private key members");
  let members: Record<string, unknown>;
  if (key.kty === "EC" && ["P-256", "P-384", "P-521"].includes(String(key.crv))) members = { kty: "EC", crv: key.crv, x: key.x, y: key.y };
  else if (key.kty === "RSA") members = { kty: "RSA", n: key.n, e: key.e };
  else throw new KbsError("InvalidRuntimeData", "tee-pubkey must be an EC (P-256, P-384, P-521) or RSA JWK");
  try {
    const k = createPublicKey({ key: members as never, format: "jwk" });
    if (key.kty === "RSA" && (k.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error("RSA modulus below 2048 bits");
  } catch (err) {
    throw new KbsError("InvalidRuntimeData", `tee-pubkey is not a usable public key (${messageOf(err)})`);
  }
}

/** Metric labels from caller input are bounded to known shapes. */
function safeLabel(value: string): string {
  return /^[a-z0-9-]{1,32}$/.test(value) ? value : "other";
}
