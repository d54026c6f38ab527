import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../main.js";
import { mintAdminToken, setAttestationPolicy, startKbs, type RunningKbs } from "../../kbs/index.js";
import { AttestationAgent, KbsClientError, generateAttestedKeys } from "../../attestation/agent/index.js";
import { SampleAttester } from "../../attestation/attesters/sample.js";
import { decryptWorkload, sha256Digest } from "../../protocol/index.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";

async function run(argv: string[]) {
  const out: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void out.push(t) });
  return { code, text: out.join("\n") };
}

describe("propeller encrypt + kbs admin commands against a real KBS, key fetched back by attestation", () => {
  let kbs: RunningKbs;
  let dir: string;
  let adminKey: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "encrypt-"));
    expect((await run(["kbs", "admin-keygen", "--id", "ops", "--out", dir])).code).toBe(0);
    adminKey = join(dir, "ops.key.jwk");
    kbs = await startKbs(
      {
        listen: { host: "127.0.0.1", port: 0 },
        developmentMode: true,
        masterKey: randomBytes(32).toString("base64"),
        admin: { keys: [{ id: "ops", publicKey: `file:${join(dir, "ops.pub.jwk")}`, roles: ["admin"] }] },
      },
      { logger: pino({ level: "silent" }) },
    );
    // Development stack: the sample TEE has no reference values to match, so its appraisal policy
    // says not to require them (as `propeller up` does); the resource policy still requires affirming.
    const jwk = JSON.parse(await readFile(adminKey, "utf8"));
    await setAttestationPolicy({ url: kbs.url, token: () => mintAdminToken(jwk, { keyId: "ops" }) }, "sample", { id: "dev-sample", requireReferenceValues: false });
  });
  afterAll(async () => {
    await kbs?.close();
  });

  it("encrypts, stores the key with its policy, and only an attested client gets it back", async () => {
    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const out = join(dir, "hello.wasm.age");
    const r = await run(["encrypt", wasm, "--out", out, "--kbs", kbs.url, "--resource", "demo/key/hello", "--tee", "sample", "--admin-key", adminKey, "--json"]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.text) as { plaintextDigest: string; ciphertextDigest: string; resource: string };
    const plaintext = await readFile(wasm);
    const ciphertext = await readFile(out);
    expect(summary.plaintextDigest).toBe(sha256Digest(plaintext));
    expect(summary.ciphertextDigest).toBe(sha256Digest(ciphertext));
    expect(summary.resource).toBe("kbs:///demo/key/hello");

    // The admin side shows metadata and the policy, never the key.
    const listed = await run(["kbs", "resource", "list", "--kbs", kbs.url, "--admin-key", adminKey, "--json"]);
    expect(listed.text).toContain("demo/key/hello");
    expect(listed.text).not.toContain("AGE-SECRET-KEY");
    const policy = await run(["kbs", "policy", "get", "demo/key/hello", "--kbs", kbs.url, "--admin-key", adminKey]);
    expect(policy.text).toContain("sample");

    // An attested (sample TEE, development mode) client fetches the identity and opens the file.
    const agent = new AttestationAgent(new SampleAttester(), await generateAttestedKeys(), { propletId: "p1" });
    const { plaintext: opened, earToken } = await agent.unseal(ciphertext, { kbsUrl: kbs.url, resource: "kbs:///demo/key/hello", plaintextDigest: summary.plaintextDigest as `sha256:${string}`, tee: "sample" });
    expect(Buffer.from(opened)).toEqual(plaintext);
    expect(earToken.split(".")).toHaveLength(3);
  });

  it("refuses without a policy or credential, and the KBS refuses an unknown resource", async () => {
    const wasm = join(EXAMPLES_DIR, "add", "add.wasm");
    expect((await run(["encrypt", wasm, "--out", join(dir, "a1.age"), "--kbs", kbs.url, "--resource", "demo/key/a"])).code).toBe(2);
    expect((await run(["encrypt", wasm, "--out", join(dir, "a2.age"), "--kbs", kbs.url, "--resource", "demo/key/a", "--tee", "sample"])).code).toBe(2);
    const badToken = await run(["encrypt", wasm, "--out", join(dir, "a3.age"), "--kbs", kbs.url, "--resource", "demo/key/a", "--tee", "sample", "--admin-token", "x.y.z"]);
    expect(badToken.code).toBe(1);
    await writeFile(join(dir, "not.wasm"), "hello");
    expect((await run(["encrypt", join(dir, "not.wasm"), "--identity-out", join(dir, "id")])).code).toBe(2);
    const agent = new AttestationAgent(new SampleAttester(), await generateAttestedKeys(), { propletId: "p1" });
    await expect(agent.client(kbs.url).getResource("kbs:///demo/key/missing")).rejects.toMatchObject({ code: "kbs_not_found" });
    await expect(agent.client(kbs.url).getResource("kbs:///demo/key/missing")).rejects.toBeInstanceOf(KbsClientError);
  });

  it("never replaces a key that earlier ciphertexts need, and writes nothing when refused", async () => {
    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const first = join(dir, "keep.wasm.age");
    const r1 = await run(["encrypt", wasm, "--out", first, "--kbs", kbs.url, "--resource", "demo/key/keep", "--tee", "sample", "--admin-key", adminKey, "--json"]);
    expect(r1.code).toBe(0);
    const { plaintextDigest } = JSON.parse(r1.text) as { plaintextDigest: string };
    const second = join(dir, "keep2.wasm.age");
    const r2 = await run(["encrypt", wasm, "--out", second, "--kbs", kbs.url, "--resource", "demo/key/keep", "--tee", "sample", "--admin-key", adminKey]);
    expect(r2.code).toBe(2);
    expect(r2.text).toMatch(/already holds a key at demo\/key\/keep/);
    await expect(readFile(second)).rejects.toMatchObject({ code: "ENOENT" });
    // An existing --out is refused before anything reaches the KBS.
    const r3 = await run(["encrypt", wasm, "--out", first, "--kbs", kbs.url, "--resource", "demo/key/other", "--tee", "sample", "--admin-key", adminKey]);
    expect(r3.code).toBe(2);
    expect((await run(["kbs", "resource", "list", "--kbs", kbs.url, "--admin-key", adminKey, "--json"])).text).not.toContain("demo/key/other");
    // The first ciphertext still opens with the key the KBS kept.
    const agent = new AttestationAgent(new SampleAttester(), await generateAttestedKeys(), { propletId: "p1" });
    const { plaintext } = await agent.unseal(await readFile(first), { kbsUrl: kbs.url, resource: "kbs:///demo/key/keep", plaintextDigest: plaintextDigest as `sha256:${string}`, tee: "sample" });
    expect(Buffer.from(plaintext)).toEqual(await readFile(wasm));
  });

  it("writes files the age tool opens with the identity", async () => {
    const wasm = join(EXAMPLES_DIR, "add", "add.wasm");
    const r = await run(["encrypt", wasm, "--out", join(dir, "add.wasm.age"), "--identity-out", join(dir, "add.id")]);
    expect(r.code).toBe(0);
    execFileSync("age", ["-d", "-i", join(dir, "add.id"), "-o", join(dir, "add.out"), join(dir, "add.wasm.age")]);
    expect(await readFile(join(dir, "add.out"))).toEqual(await readFile(wasm));
    const id = (await readFile(join(dir, "add.id"), "utf8")).trim();
    expect(Buffer.from(await decryptWorkload(await readFile(join(dir, "add.wasm.age")), Buffer.from(id)))).toEqual(await readFile(wasm));
  });
});
