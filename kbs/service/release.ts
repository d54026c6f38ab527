import { EarTokenError, verifyEar } from "../../attestation/ear/index.js";
import type { EarClaims } from "../../attestation/ear/index.js";
import type { KbsContext } from "../context.js";
import { encryptToTeeKey, JweKeyError, type ResourceJwe } from "../crypto/jwe.js";
import { KbsError } from "../errors.js";
import { evaluateResourcePolicy, parseResourcePolicy } from "../policy/resource-policy.js";
import { messageOf } from "../../lib/errors.js";
import { isDevelopmentOnlyTee } from "../../protocol/index.js";

export type Credential = { kind: "bearer"; token: string } | { kind: "cookie"; sessionId: string } | { kind: "none" };

/**
 * GET /resource: token (bearer or the session's) → resource exists → its policy allows this token
 * → plaintext opened and encrypted to the attested tee-pubkey. Each refusal is audited with its reason.
 */
export async function releaseResource(ctx: KbsContext, path: string, credential: Credential, client: string): Promise<ResourceJwe> {
  let actor = credential.kind === "cookie" ? `session:${credential.sessionId}` : credential.kind === "bearer" ? "bearer" : "anonymous";
  const deny = async (error: KbsError, details?: Record<string, unknown>) => {
    ctx.metrics.release.inc({ outcome: error.variant });
    await ctx.audit.record({ event: "deny", outcome: "denied", actor, subject: path, reason: error.message, client, details });
    error.audited = true;
    return error;
  };

  const token = await credentialToken(ctx, credential).catch(async (err: unknown) => {
    throw err instanceof KbsError ? await deny(err) : err;
  });
  let claims: EarClaims;
  let teePubkey: Record<string, unknown>;
  try {
    const options = { issuer: ctx.config.issuer, audience: ctx.config.audience, clockToleranceSeconds: 1 };
    // Another replica may have created a signing key since our JWKS was cached: retry once fresh.
    const verified = await verifyEar(token, await ctx.signingKeys.jwks(), options).catch(async (err: unknown) => {
      if (err instanceof EarTokenError && err.code === "ear_invalid") return verifyEar(token, await ctx.signingKeys.jwks(0), options);
      throw err;
    });
    claims = verified.claims;
    teePubkey = verified.teePubkey;
  } catch (err) {
    if (err instanceof EarTokenError) {
      throw await deny(new KbsError(err.code === "ear_expired" ? "TokenExpired" : "TokenInvalid", `${err.message}; attest again`));
    }
    throw err;
  }
  actor = `token:${claims.jti}`;
  const submod = claims.submods.cpu0;
  const annotated = submod["ear.veraison.annotated-evidence"];
  const tee = String(annotated.tee);

  if (!(await ctx.resources.exists(path))) throw await deny(new KbsError("ResourceNotFound", `resource ${path} does not exist`));
  const stored = await ctx.policies.resourcePolicy<unknown>(path);
  if (!stored) throw await deny(new KbsError("PolicyDeny", `resource ${path} has no release policy; resources without a policy are never released`), { tee });
  let decisionReasons: string[];
  try {
    const decision = evaluateResourcePolicy(parseResourcePolicy(stored.policy), {
      tee,
      status: submod["ear.status"],
      teeClaims: (annotated[tee] as Record<string, unknown> | undefined) ?? {},
      runtimeData: annotated.runtime_data_claims ?? {},
      development: claims["propeller.development"] === true || isDevelopmentOnlyTee(tee),
      developmentMode: ctx.config.developmentMode,
    });
    decisionReasons = decision.reasons;
  } catch (err) {
    // A stored policy that no longer validates denies (it was validated on upload; never fail open).
    decisionReasons = [`the stored policy of ${path} is invalid: ${messageOf(err)}`];
  }
  if (decisionReasons.length > 0) {
    throw await deny(new KbsError("PolicyDeny", `release of ${path} denied: ${decisionReasons.join("; ")}`), { tee, status: submod["ear.status"] });
  }

  const plaintext = await ctx.resources.open(path);
  if (!plaintext) throw await deny(new KbsError("ResourceNotFound", `resource ${path} does not exist`));
  try {
    const jwe = encryptToTeeKey(plaintext, teePubkey);
    await ctx.audit.record({ event: "release", outcome: "ok", actor, subject: path, reason: `policy allowed ${tee} with ear.status ${submod["ear.status"]}`, client, details: { tee, jti: claims.jti, alg: JSON.parse(Buffer.from(jwe.protected, "base64url").toString()).alg as string } });
    ctx.metrics.release.inc({ outcome: "released" });
    ctx.logger.info({ path, tee, jti: claims.jti }, "resource released");
    return jwe;
  } catch (err) {
    if (err instanceof JweKeyError) throw await deny(new KbsError("InvalidRuntimeData", err.message));
    throw err;
  } finally {
    plaintext.fill(0);
  }
}

async function credentialToken(ctx: KbsContext, credential: Credential): Promise<string> {
  if (credential.kind === "bearer") return credential.token;
  if (credential.kind === "none") throw new KbsError("TokenNotFound", "no token: send Authorization: Bearer <EAR token> or the kbs-session-id cookie of an attested session");
  const session = credential.sessionId === "-" ? { found: false, expired: false, token: null } : await ctx.sessions.token(credential.sessionId);
  if (!session.found) throw new KbsError("UnAuthenticatedCookie", "no such KBS session; attest again");
  if (session.expired) throw new KbsError("ExpiredCookie", "the KBS session has expired; attest again");
  if (!session.token) throw new KbsError("TokenNotFound", "this session has not attested yet; call /kbs/v0/attest");
  return session.token;
}
