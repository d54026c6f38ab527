import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT, exportJWK } from "jose";
import { describe, expect, it } from "vitest";
import { main } from "../main.js";
import { receiptOutput, receiptSigner, sha256Digest, signReceipt, inputDigest } from "../../protocol/index.js";

async function run(argv: string[]) {
  const out: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void out.push(t) });
  return { code, text: out.join("\n") };
}

describe("propeller receipt verify", () => {
  it("verifies offline with a JWKS file, checks expectations, and fails on tampering", async () => {
    const dir = await mkdtemp(join(tmpdir(), "receipt-"));
    const kbsKey = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = { ...(await exportJWK(kbsKey.publicKey)), kid: "k1", alg: "ES256" };
    await writeFile(join(dir, "jwks.json"), JSON.stringify({ keys: [jwk] }));
    const pair = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const signer = await receiptSigner(pair.privateKey, pair.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ submods: { cpu0: { "ear.status": "affirming", "ear.veraison.annotated-evidence": { runtime_data_claims: { "receipt-pubkey": signer.publicJwk } } } } })
      .setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuedAt(now).setExpirationTime(now + 60).sign(kbsKey.privateKey);
    const stdout = Buffer.from("the output\n");
    await writeFile(join(dir, "stdout.txt"), stdout);
    const result = { stdout: stdout.toString("base64"), stderr: "", stdoutTruncated: false, stderrTruncated: false, exitCode: 0, returnValues: null, error: null };
    const wasm = sha256Digest("wasm");
    const jws = await signReceipt({
      receiptVersion: 1, taskId: "t1", runId: "r1", nonce: randomBytes(32).toString("base64url"), propletId: "p1", tee: "sample", attested: true,
      workload: { plaintext: wasm, ciphertext: null }, inputDigest: inputDigest({ entrypoint: { kind: "wasi" }, args: [], env: {}, stdin: "" }),
      output: receiptOutput(result), outcome: "completed", startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), earToken: token, iat: now,
    }, signer);
    await writeFile(join(dir, "r.jws"), jws);

    const ok = await run(["receipt", "verify", join(dir, "r.jws"), "--jwks", join(dir, "jwks.json"), "--expect-workload", wasm, "--expect-output", join(dir, "stdout.txt")]);
    expect(ok.text).toContain("receipt verified");
    expect(ok.code).toBe(0);
    expect(ok.text).toMatch(/✔ token.key-binding/);

    await writeFile(join(dir, "other.txt"), "different");
    const wrongOutput = await run(["receipt", "verify", join(dir, "r.jws"), "--jwks", join(dir, "jwks.json"), "--expect-output", join(dir, "other.txt")]);
    expect(wrongOutput.code).toBe(1);
    expect(wrongOutput.text).toMatch(/✘ expect.stdout/);

    const noJwks = await run(["receipt", "verify", join(dir, "r.jws")]);
    expect(noJwks.code).toBe(1);
    expect(noJwks.text).toMatch(/✘ token.issuer-keys/);

    await writeFile(join(dir, "bad.jws"), jws.slice(0, -3) + "AAA");
    expect((await run(["receipt", "verify", join(dir, "bad.jws"), "--jwks", join(dir, "jwks.json")])).code).toBe(1);
    expect((await run(["receipt", "verify", join(dir, "missing.jws")])).code).toBe(2);
    expect((await run(["receipt", "verify", join(dir, "r.jws"), "--expect-workload", "md5:x"])).code).toBe(2);
  });
});

describe("propeller receipt verify: hostile input", () => {
  it("refuses an oversized receipt file and an endless JWKS endpoint with clear errors", async () => {
    const { createServer } = await import("node:http");
    const dir = await mkdtemp(join(tmpdir(), "receipt-big-"));
    await writeFile(join(dir, "big.jws"), Buffer.alloc(2 * 1024 * 1024, 0x41));
    const big = await run(["receipt", "verify", join(dir, "big.jws")]);
    expect(big.code).toBe(2);
    expect(big.text).toMatch(/a receipt is at most/);
    // A JWKS endpoint that never stops sending: refused after a bounded read.
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => { while (res.write(chunk)) { /* keep writing until backpressure */ } };
      res.on("drain", pump);
      pump();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    await writeFile(join(dir, "r.jws"), "a.b.c");
    const endless = await run(["receipt", "verify", join(dir, "r.jws"), "--jwks", `http://127.0.0.1:${port}/jwks.json`]);
    server.closeAllConnections();
    server.close();
    expect(endless.code).toBe(2);
    expect(endless.text).toMatch(/larger than 262144 bytes/);
  });
});
