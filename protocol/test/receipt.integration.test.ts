import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { SignJWT, exportJWK, type JSONWebKeySet, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import {
  inputDigest,
  receiptOutput,
  receiptSigner,
  sha256Digest,
  signReceipt,
  verifyReceipt,
  type ReceiptClaims,
  type ReceiptSigner,
} from "../index.js";

/** A token issuer of the test's own that really signs (the KBS's role), ES256. */
async function issuer(kid: string) {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  const issue = (receiptKey: JWK, opts: { status?: string; expSeconds?: number; iat?: number; tee?: string } = {}) => {
    const iat = opts.iat ?? Math.floor(Date.now() / 1000);
    return new SignJWT({
      eat_profile: "tag:github.com,2023:veraison/ear",
      "ear.verifier-id": { developer: "test", build: "test" },
      submods: {
        cpu0: {
          "ear.status": opts.status ?? "affirming",
          "ear.veraison.annotated-evidence": { tee: opts.tee ?? "sample", runtime_data_claims: { "receipt-pubkey": receiptKey } },
        },
      },
    })
      .setProtectedHeader({ alg: "ES256", kid })
      .setIssuedAt(iat)
      .setNotBefore(iat - 1)
      .setExpirationTime(iat + (opts.expSeconds ?? 300))
      .sign(privateKey);
  };
  return { jwk, issue };
}

const result = {
  stdout: Buffer.from("hello\n").toString("base64"),
  stderr: "",
  stdoutTruncated: false,
  stderrTruncated: false,
  exitCode: 0,
  returnValues: null,
  error: null,
};
const input = { entrypoint: { kind: "wasi" as const }, args: ["a"], env: { K: "v" }, stdin: "" };

function claims(over: Partial<ReceiptClaims> = {}): ReceiptClaims {
  const now = new Date();
  return {
    receiptVersion: 1,
    taskId: "task-1",
    runId: "run-1",
    nonce: randomBytes(32).toString("base64url"),
    propletId: "p1",
    tee: null,
    attested: false,
    workload: { plaintext: sha256Digest("wasm"), ciphertext: null },
    inputDigest: inputDigest(input),
    output: receiptOutput(result),
    outcome: "completed",
    startedAt: new Date(now.getTime() - 1000).toISOString(),
    finishedAt: now.toISOString(),
    earToken: null,
    iat: Math.floor(now.getTime() / 1000),
    ...over,
  };
}

async function signerFor(type: "ed25519" | "ec"): Promise<ReceiptSigner> {
  const pair = type === "ec" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  return receiptSigner(pair.privateKey, pair.publicKey);
}

const failed = (v: { checks: Array<{ name: string; ok: boolean }> }) => v.checks.filter((c) => !c.ok).map((c) => c.name);

describe("unattested receipts", () => {
  it("verify only when allowed, and only with the proplet's key", async () => {
    const signer = await signerFor("ed25519");
    const jws = await signReceipt(claims(), signer);
    expect(failed(await verifyReceipt(jws))).toEqual(["receipt.attested"]);
    const allowed = await verifyReceipt(jws, { allowUnattested: true, propletKey: signer.publicJwk, taskId: "task-1" });
    expect(allowed.ok).toBe(true);
    const other = await signerFor("ed25519");
    expect(failed(await verifyReceipt(jws, { allowUnattested: true, propletKey: other.publicJwk }))).toEqual(["signer.proplet-key"]);
  });
});

describe("attested receipts", () => {
  let kbs: Awaited<ReturnType<typeof issuer>>;
  let jwks: JSONWebKeySet;
  let signer: ReceiptSigner;
  beforeAll(async () => {
    kbs = await issuer("kbs-1");
    jwks = { keys: [kbs.jwk] };
    signer = await signerFor("ec");
  });
  const attested = async (over: Partial<ReceiptClaims> = {}, token?: string) =>
    claims({ tee: "sample", attested: true, earToken: token ?? (await kbs.issue(signer.publicJwk)), ...over });

  it("verify with the KBS JWKS: signature, token, status, key binding, expectations", async () => {
    const c = await attested();
    const v = await verifyReceipt(await signReceipt(c, signer), { jwks, taskId: "task-1", runId: "run-1", nonce: c.nonce, tee: "sample", workloadDigest: c.workload.plaintext, output: receiptOutput(result) });
    expect(failed(v)).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.attested).toBe(true);
  });

  it("reject a flipped byte in the payload", async () => {
    const jws = await signReceipt(await attested(), signer);
    const [h, p, s] = jws.split(".");
    const bytes = Buffer.from(p!, "base64url");
    bytes[40] = bytes[40]! ^ 1;
    const v = await verifyReceipt(`${h}.${bytes.toString("base64url")}.${s}`, { jwks });
    expect(v.ok).toBe(false);
    expect(failed(v)).toContain("receipt.signature");
  });

  it("reject a swapped token (bound to another key)", async () => {
    const other = await signerFor("ec");
    const jws = await signReceipt(await attested({}, await kbs.issue(other.publicJwk)), signer);
    expect(failed(await verifyReceipt(jws, { jwks }))).toEqual(["token.key-binding"]);
  });

  it("reject a token signed by a key the JWKS does not hold", async () => {
    const rogue = await issuer("kbs-1");
    const jws = await signReceipt(await attested({}, await rogue.issue(signer.publicJwk)), signer);
    expect(failed(await verifyReceipt(jws, { jwks }))).toEqual(["token.signature"]);
  });

  it("reject a token that had expired when the run finished", async () => {
    const old = Math.floor(Date.now() / 1000) - 3600;
    const jws = await signReceipt(await attested({}, await kbs.issue(signer.publicJwk, { iat: old, expSeconds: 60 })), signer);
    expect(failed(await verifyReceipt(jws, { jwks }))).toEqual(["token.validity"]);
  });

  it("reject a non-affirming token and a TEE mismatch", async () => {
    const warn = await signReceipt(await attested({}, await kbs.issue(signer.publicJwk, { status: "warning" })), signer);
    expect(failed(await verifyReceipt(warn, { jwks }))).toEqual(["token.status"]);
    const tee = await signReceipt(await attested({ tee: "tpm" }), signer);
    expect(failed(await verifyReceipt(tee, { jwks }))).toEqual(["token.tee"]);
  });

  it("reject a receipt replayed for another task, run or nonce", async () => {
    const c = await attested();
    const jws = await signReceipt(c, signer);
    const v = await verifyReceipt(jws, { jwks, taskId: "task-2", runId: "run-9", nonce: randomBytes(32).toString("base64url") });
    expect(failed(v)).toEqual(["expect.task", "expect.run", "expect.nonce"]);
  });

  it("reject malformed input without throwing", async () => {
    for (const bad of ["", "a.b", "x".repeat(300_000), "a.b.c", "eyJhbGciOiJub25lIn0.e30."]) {
      const v = await verifyReceipt(bad, { jwks });
      expect(v.ok).toBe(false);
    }
  });

  const python = "/usr/bin/python3";
  const hasJwcrypto = existsSync(python) && (() => { try { execFileSync(python, ["-c", "import jwcrypto"]); return true; } catch { return false; } })();
  it.skipIf(!hasJwcrypto && process.env.CI !== "true")("verify with an independent JOSE implementation (python3-jwcrypto)", async () => {
    const jws = await signReceipt(await attested(), signer);
    const script = `
import json, sys
from jwcrypto import jwk, jws
token = jws.JWS()
token.deserialize(sys.argv[1])
header = token.jose_header
key = jwk.JWK(**header["jwk"])
token.verify(key)
print(json.loads(token.payload)["taskId"])
`;
    const out = execFileSync(python, ["-c", script, jws]).toString().trim();
    expect(out).toBe("task-1");
    const tampered = jws.slice(0, -4) + (jws.endsWith("AAAA") ? "BBBB" : "AAAA");
    expect(() => execFileSync(python, ["-c", script, tampered], { stdio: "pipe" })).toThrow();
  });
});

describe("buildReceiptClaims / expectationsForRun", () => {
  it("produce a receipt that verifies against what the manager dispatched and received, and not against another result", async () => {
    const { buildReceiptClaims, expectationsForRun } = await import("../index.js");
    const start = { taskId: "t9", runId: "r9", propletId: "p9", receiptNonce: randomBytes(32).toString("base64url"), entrypoint: { kind: "wasi" as const }, args: ["x"], env: {}, stdin: "" };
    const res = { ...result, outcome: "completed" as const, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() };
    const signer = await signerFor("ed25519");
    const jws = await signReceipt(buildReceiptClaims(start, res, { plaintextDigest: sha256Digest("w") }), signer);
    const expectations = { ...expectationsForRun(start, res, sha256Digest("w")), allowUnattested: true, propletKey: signer.publicJwk };
    expect((await verifyReceipt(jws, expectations)).ok).toBe(true);
    const otherOutput = expectationsForRun(start, { ...res, stdout: Buffer.from("forged").toString("base64") }, sha256Digest("w"));
    expect(failed(await verifyReceipt(jws, { ...otherOutput, allowUnattested: true }))).toEqual(["expect.output"]);
    const otherArgs = expectationsForRun({ ...start, args: ["y"] }, res, sha256Digest("w"));
    expect(failed(await verifyReceipt(jws, { ...otherArgs, allowUnattested: true }))).toEqual(["expect.input"]);
  });
});

describe("what a receipt covers beyond a core module's output", () => {
  it("a component export's WAVE result: a receipt of one result does not verify another", async () => {
    const signer = await signerFor("ed25519");
    const withWave = { ...result, returnWave: "ok(42)" };
    const jws = await signReceipt(claims({ output: receiptOutput(withWave) }), signer);
    const base = { allowUnattested: true, propletKey: signer.publicJwk };
    expect((await verifyReceipt(jws, { ...base, output: receiptOutput(withWave) })).ok).toBe(true);
    expect(failed(await verifyReceipt(jws, { ...base, output: receiptOutput({ ...result, returnWave: "ok(43)" }) }))).toEqual(["expect.output"]);
    // A result without a WAVE value keeps the output part it always had (old receipts still verify).
    expect(receiptOutput(result)).not.toHaveProperty("returnWave");
  });

  it("grants: the directories and hosts a run could reach are part of its input digest", () => {
    const granted = { ...input, grants: { dirs: [{ guest: "/data", readonly: true }], hosts: ["example.com:443"] } };
    expect(inputDigest(granted)).not.toBe(inputDigest(input));
    expect(inputDigest({ ...granted, grants: { ...granted.grants, hosts: ["example.org:443"] } })).not.toBe(inputDigest(granted));
    // No grants: the digest of the same input without the field.
    expect(inputDigest({ ...input, grants: null })).toBe(inputDigest(input));
  });
});
