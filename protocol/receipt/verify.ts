import {
  calculateJwkThumbprint,
  compactVerify,
  decodeProtectedHeader,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
} from "jose";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import type { Digest } from "../digest.js";
import { RECEIPT_ALGS, RECEIPT_TYP, ReceiptClaims, type ReceiptClaims as Claims } from "./claims.js";
import { messageOf } from "../../lib/errors.js";
import { verifyEarToken } from "../ear.js";
import type { Checked, ExplainedCheck } from "../check.js";

const claimsCheck = TypeCompiler.Compile(ReceiptClaims);

/** One receipt check (protocol/check.ts): each says what it compared. */
export type ReceiptCheck = ExplainedCheck;

export interface ReceiptExpectations {
  /** Keys of the token issuers (the KBS's JWKS) trusted for attested receipts. */
  jwks?: JSONWebKeySet;
  /** Accept a receipt not bound to a TEE (its key is the proplet's identity key). Default false. */
  allowUnattested?: boolean;
  /** The signer expected for an unattested receipt (the proplet's announced identity key). */
  propletKey?: JWK;
  taskId?: string;
  runId?: string;
  nonce?: string;
  propletId?: string;
  tee?: string;
  /** Matches when it equals the plaintext or the ciphertext digest. */
  workloadDigest?: Digest | string;
  inputDigest?: Digest | string;
  stdoutDigest?: Digest | string;
  /** Expected full output part (as the manager recomputes it from the result it received). */
  output?: Claims["output"];
  /** Audience the token must carry, when the deployment sets one. */
  tokenAudience?: string;
}

export interface ReceiptVerification extends Checked<ReceiptCheck> {
  attested: boolean;
  claims: Claims | null;
  /** RFC 7638 thumbprint of the key that signed the receipt. */
  signerThumbprint: string | null;
}

/** JSON pointer-ish path of the key bound by the proplet in the attestation's runtime data. */
export const RECEIPT_KEY_PATH = ["submods", "cpu0", "ear.veraison.annotated-evidence", "runtime_data_claims", "receipt-pubkey"] as const;

/**
 * Verifies a receipt offline (docs/receipts.md, "Verification"). Every check is reported;
 * `ok` is true only when all passed.
 */
export async function verifyReceipt(jws: string, expect: ReceiptExpectations = {}): Promise<ReceiptVerification> {
  const checks: ReceiptCheck[] = [];
  const add = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    return ok;
  };
  const done = (claims: Claims | null, attested: boolean, signerThumbprint: string | null): ReceiptVerification => ({
    ok: checks.length > 0 && checks.every((c) => c.ok),
    attested,
    checks,
    claims,
    signerThumbprint,
  });

  // 1. Form and header.
  if (typeof jws !== "string" || jws.length > 256 * 1024 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(jws.trim())) {
    add("receipt.format", false, "not a compact JWS (three base64url parts)");
    return done(null, false, null);
  }
  jws = jws.trim();
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch (err) {
    add("receipt.format", false, `protected header unreadable: ${messageOf(err)}`);
    return done(null, false, null);
  }
  const jwk = header.jwk as JWK | undefined;
  const headerOk =
    header.typ === RECEIPT_TYP &&
    (RECEIPT_ALGS as readonly string[]).includes(String(header.alg)) &&
    jwk !== undefined &&
    typeof jwk === "object" &&
    !("d" in jwk);
  if (!add("receipt.header", headerOk, headerOk ? `alg ${header.alg}, key in header` : `expected typ ${RECEIPT_TYP}, alg ES256 or EdDSA and a public jwk; got typ ${String(header.typ)}, alg ${String(header.alg)}`)) {
    return done(null, false, null);
  }
  let signerThumbprint: string;
  try {
    signerThumbprint = await calculateJwkThumbprint(jwk!);
  } catch (err) {
    // A header key that is not a valid public JWK (found by fuzz/: jose throws its own JWKInvalid).
    add("receipt.header", false, `the key in the header is not a valid public JWK: ${messageOf(err)}`);
    return done(null, false, null);
  }

  // 2. Signature by the key in the header.
  let payload: Uint8Array;
  try {
    const key = await importJWK(jwk!, String(header.alg));
    ({ payload } = await compactVerify(jws, key, { algorithms: [...RECEIPT_ALGS] }));
    add("receipt.signature", true, `signed by key ${signerThumbprint}`);
  } catch (err) {
    add("receipt.signature", false, `signature does not verify with the header key: ${messageOf(err)}`);
    return done(null, false, signerThumbprint);
  }

  // 3. Claims.
  let claims: Claims;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload).toString("utf8"));
    if (!claimsCheck.Check(parsed)) {
      const first = [...claimsCheck.Errors(parsed)].slice(0, 3).map((e) => `${e.path}: ${e.message}`).join("; ");
      add("receipt.claims", false, `claims do not match the receipt schema: ${first}`);
      return done(null, false, signerThumbprint);
    }
    claims = parsed;
    add("receipt.claims", true, `receipt v${claims.receiptVersion} for task ${claims.taskId} run ${claims.runId}`);
  } catch {
    add("receipt.claims", false, "payload is not JSON");
    return done(null, false, signerThumbprint);
  }

  // 4. Who vouches for the signing key: an EAR token (attested) or the proplet's identity (unattested).
  if (claims.attested) {
    await checkToken(claims, signerThumbprint, expect, add);
  } else {
    if (claims.earToken !== null || claims.tee !== null) add("receipt.unattested", false, "an unattested receipt must carry neither a TEE nor a token");
    if (expect.propletKey) {
      const expected = await calculateJwkThumbprint(expect.propletKey);
      add("signer.proplet-key", expected === signerThumbprint, expected === signerThumbprint ? "signed by the proplet's identity key" : `signed by ${signerThumbprint}, but the proplet's identity key is ${expected}`);
    }
    add(
      "receipt.attested",
      expect.allowUnattested === true,
      expect.allowUnattested ? "unattested run: the signing key is not bound to a TEE" : "receipt is unattested (no TEE vouches for its key); allow unattested receipts explicitly to accept it",
    );
  }

  // 5. What the relying party expects.
  const equal = (name: string, expected: unknown, actual: unknown, what: string) => {
    if (expected === undefined) return;
    const ok = JSON.stringify(expected) === JSON.stringify(actual);
    add(name, ok, ok ? `${what} matches` : `${what} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  };
  equal("expect.task", expect.taskId, claims.taskId, "task id");
  equal("expect.run", expect.runId, claims.runId, "run id");
  equal("expect.nonce", expect.nonce, claims.nonce, "nonce");
  equal("expect.proplet", expect.propletId, claims.propletId, "proplet id");
  equal("expect.tee", expect.tee, claims.tee, "TEE");
  equal("expect.input", expect.inputDigest, claims.inputDigest, "input digest");
  equal("expect.output", expect.output, claims.output, "output");
  equal("expect.stdout", expect.stdoutDigest, claims.output.stdout, "stdout digest");
  if (expect.workloadDigest !== undefined) {
    const ok = expect.workloadDigest === claims.workload.plaintext || expect.workloadDigest === claims.workload.ciphertext;
    add("expect.workload", ok, ok ? "workload digest matches" : `workload is ${claims.workload.plaintext} (ciphertext ${claims.workload.ciphertext}), expected ${expect.workloadDigest}`);
  }
  return done(claims, claims.attested, signerThumbprint);
}

async function checkToken(
  claims: Claims,
  signerThumbprint: string,
  expect: ReceiptExpectations,
  add: (name: string, ok: boolean, detail: string) => boolean,
): Promise<void> {
  if (!add("token.present", typeof claims.earToken === "string" && claims.tee !== null, claims.earToken ? "EAR token embedded" : "an attested receipt must embed its EAR token and name its TEE")) return;
  if (!add("token.issuer-keys", expect.jwks !== undefined && expect.jwks.keys.length > 0, expect.jwks ? `${expect.jwks.keys.length} trusted issuer key(s)` : "no JWKS of a trusted KBS was given")) return;

  let token: JWTPayload;
  try {
    // Validity is judged at the time the run finished: a receipt outlives its short-lived token,
    // but the token must have been valid when the receipt's key signed.
    const finished = new Date(claims.finishedAt);
    const result = await verifyEarToken(claims.earToken!, expect.jwks!, { now: finished, ...(expect.tokenAudience ? { audience: expect.tokenAudience } : {}) });
    token = result.payload;
    add("token.signature", true, `signed by trusted key ${String(result.kid ?? "(no kid)")}`);
    add("token.validity", true, `valid at ${claims.finishedAt}`);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    const validity = code === "ERR_JWT_EXPIRED" || code === "ERR_JWT_CLAIM_VALIDATION_FAILED";
    add(validity ? "token.validity" : "token.signature", false, `EAR token rejected: ${messageOf(err)}${validity ? ` (judged at the run's finish time ${claims.finishedAt})` : ""}`);
    return;
  }

  const submod = (token.submods as Record<string, Record<string, unknown>> | undefined)?.cpu0;
  const status = submod?.["ear.status"];
  add("token.status", status === "affirming", status === "affirming" ? "ear.status affirming" : `ear.status is ${JSON.stringify(status)}, not affirming`);

  const annotated = submod?.["ear.veraison.annotated-evidence"] as Record<string, unknown> | undefined;
  const runtime = annotated?.runtime_data_claims as Record<string, unknown> | undefined;
  const bound = runtime?.["receipt-pubkey"];
  if (bound && typeof bound === "object") {
    const boundThumbprint = await calculateJwkThumbprint(bound as JWK);
    add("token.key-binding", boundThumbprint === signerThumbprint, boundThumbprint === signerThumbprint ? "the receipt key is the key bound in the attestation" : `the attestation bound key ${boundThumbprint}, but the receipt was signed by ${signerThumbprint}`);
  } else {
    add("token.key-binding", false, "the token binds no receipt-pubkey in its runtime data");
  }

  const tokenTee = annotated?.tee ?? runtime?.tee;
  if (tokenTee !== undefined) add("token.tee", tokenTee === claims.tee, tokenTee === claims.tee ? `TEE ${claims.tee}` : `the token attests ${String(tokenTee)}, the receipt claims ${claims.tee}`);
}
