import { generateKeyPairSync, randomBytes } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkReceipt } from "../check.js";
import { JwksCache } from "../jwks-cache.js";
import { adminKeygen, mintAdminToken, setAttestationPolicy, startKbs, type RunningKbs } from "../../../kbs/index.js";
import { KbsClient, generateAttestedKeys, type AttestedKeys } from "../../../attestation/agent/index.js";
import { SampleAttester } from "../../../attestation/attesters/sample.js";
import { buildReceiptClaims, receiptSigner, signReceipt, sha256Digest } from "../../../protocol/index.js";

const start = { taskId: "t1", runId: "r1", propletId: "p1", receiptNonce: randomBytes(32).toString("base64url"), entrypoint: { kind: "wasi" as const }, args: ["a"], env: {}, stdin: "" };
/** A run that finished now (after the token below was issued, as a real run does). */
const finishedNow = () => ({
  outcome: "completed" as const, stdout: Buffer.from("out").toString("base64"), stderr: "", stdoutTruncated: false, stderrTruncated: false,
  exitCode: 0, returnValues: null, error: null, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(),
});
let result: ReturnType<typeof finishedNow>;
const plaintextDigest = sha256Digest("plain wasm");
const ciphertextDigest = sha256Digest("cipher");

describe("manager receipt check (real KBS tokens)", () => {
  let kbs: RunningKbs;
  let keys: AttestedKeys;
  let earToken: string;
  const cache = new JwksCache();

  beforeAll(async () => {
    const admin = await adminKeygen({ id: "a" });
    kbs = await startKbs(
      { listen: { host: "127.0.0.1", port: 0 }, developmentMode: true, masterKey: randomBytes(32).toString("base64"), admin: { keys: [{ id: "a", publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] } },
      { logger: pino({ level: "silent" }) },
    );
    await setAttestationPolicy({ url: kbs.url, token: () => mintAdminToken({ ...admin.privateJwk, kid: "a" }, { keyId: "a" }) }, "sample", { id: "dev", requireReferenceValues: false });
    keys = await generateAttestedKeys();
    ({ token: earToken } = await new KbsClient({ url: kbs.url, attester: new SampleAttester(), keys }).attest());
    result = finishedNow();
  });
  afterAll(async () => {
    await kbs?.close();
  });

  const confidential = () => ({ kbsUrl: kbs.url, resource: "kbs:///a/b/c", plaintextDigest, tee: "sample" as const });
  const attestedReceipt = (over: { keys?: AttestedKeys; token?: string } = {}) =>
    signReceipt(buildReceiptClaims(start, result, { plaintextDigest, ciphertextDigest, attestation: { tee: "sample", earToken: over.token ?? earToken } }), (over.keys ?? keys).receipt);

  it("accepts an attested receipt over exactly what was dispatched and received", async () => {
    const check = await checkReceipt({ receipt: await attestedReceipt(), start, result, artifactDigest: ciphertextDigest, confidential: confidential(), propletIdentityKey: undefined }, cache);
    expect(check.reason).toBe("");
    expect(check.ok).toBe(true);
    expect(check.verification!.attested).toBe(true);
  });

  it("rejects: missing receipt, another ciphertext, another output, a receipt key the token does not bind", async () => {
    const input = { start, result, artifactDigest: ciphertextDigest, confidential: confidential(), propletIdentityKey: undefined };
    expect((await checkReceipt({ ...input, receipt: undefined }, cache)).reason).toMatch(/no receipt/);
    expect((await checkReceipt({ ...input, receipt: await attestedReceipt(), artifactDigest: sha256Digest("other") }, cache)).reason).toMatch(/expect.ciphertext/);
    expect((await checkReceipt({ ...input, receipt: await attestedReceipt(), result: { ...result, exitCode: 1 } }, cache)).reason).toMatch(/expect.output/);
    const other = await generateAttestedKeys();
    expect((await checkReceipt({ ...input, receipt: await attestedReceipt({ keys: other }) }, cache)).reason).toMatch(/token.key-binding/);
    const unattested = await signReceipt(buildReceiptClaims(start, result, { plaintextDigest, ciphertextDigest }), keys.receipt);
    expect((await checkReceipt({ ...input, receipt: unattested }, cache)).reason).toMatch(/receipt.attested/);
  });

  it("checks plain receipts against the proplet's announced identity key", async () => {
    const pair = generateKeyPairSync("ed25519");
    const identity = await receiptSigner(pair.privateKey, pair.publicKey);
    const receipt = await signReceipt(buildReceiptClaims(start, result, { plaintextDigest: ciphertextDigest }), identity);
    const input = { receipt, start, result, artifactDigest: ciphertextDigest, confidential: undefined };
    expect((await checkReceipt({ ...input, propletIdentityKey: identity.publicJwk }, cache)).ok).toBe(true);
    const stranger = await receiptSigner(...(() => { const p = generateKeyPairSync("ed25519"); return [p.privateKey, p.publicKey] as const; })());
    expect((await checkReceipt({ ...input, propletIdentityKey: stranger.publicJwk }, cache)).reason).toMatch(/signer.proplet-key/);
    expect((await checkReceipt({ ...input, propletIdentityKey: undefined }, cache)).reason).toMatch(/no identity key/);
  });

  it("reports an unreachable KBS instead of accepting", async () => {
    const check = await checkReceipt({ receipt: await attestedReceipt(), start, result, artifactDigest: ciphertextDigest, confidential: { ...confidential(), kbsUrl: "http://127.0.0.1:9" }, propletIdentityKey: undefined }, new JwksCache());
    expect(check.ok).toBe(false);
    expect(check.reason).toMatch(/cannot fetch the KBS's keys/);
  });
});
