/**
 * Confidential execution end to end on the proplet side, with real things: a real KBS (development
 * mode, sample TEE), workloads encrypted with age, a real broker (embedded aedes), real worker
 * threads, and receipts checked with the real verifier against the KBS's published JWKS.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader } from "jose";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../mqtt/index.js";
import { LIMITS, receiptOutput, sha256Digest, verifyReceipt, type TaskResult } from "../../protocol/index.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { checkReceipt } from "../../manager/receipts/check.js";
import { JwksCache } from "../../manager/receipts/jwks-cache.js";
import { startProplet, type PropletConfigInput, type RunningProplet } from "../index.js";
import { startTestKbs, withMarker, type TestKbs } from "./confidential-helpers.js";
import { LIMITS_FOR_TESTS, example, wat } from "./helpers.js";
import { ScriptedManager } from "./scripted-manager.js";

const logger = pino({ level: "silent" });
let broker: EmbeddedBroker;
let t: TestKbs;
let hello: Uint8Array;
const cleanups: Array<() => Promise<unknown>> = [];
let n = 0;

beforeAll(async () => {
  broker = await startEmbeddedBroker({ logger });
  t = await startTestKbs();
  hello = await example("hello/hello.wasm");
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await t?.kbs.close();
  await broker?.close();
});

async function setup(over: Partial<PropletConfigInput> = { tee: { type: "sample" } }) {
  const topicRoot = uniqueTopicRoot();
  const manager = await ScriptedManager.connect(broker.url, topicRoot);
  cleanups.push(() => manager.close());
  const id = `c${++n}-${Date.now().toString(36)}`;
  const proplet = await startProplet({ id, mqtt: { url: broker.url }, topicRoot, logger, heartbeatIntervalMs: 500, maxConcurrency: 2, ...over });
  cleanups.push(() => proplet.close());
  const announce = await manager.next("announce", id);
  return { proplet: proplet as RunningProplet, manager, id, announce };
}

const text = (b64: string) => Buffer.from(b64, "base64").toString("utf8");
const resourceName = () => `kbs:///test/key/w${randomBytes(6).toString("hex")}`;

async function expectAttestedReceipt(result: TaskResult, start: { taskId: string; runId: string; receiptNonce: string; propletId: string }, workloadDigest: string) {
  expect(result.receipt).toBeDefined();
  const v = await verifyReceipt(result.receipt!, {
    jwks: await t.jwks(),
    nonce: start.receiptNonce,
    taskId: start.taskId,
    runId: start.runId,
    propletId: start.propletId,
    tee: "sample",
    workloadDigest,
    output: receiptOutput(result),
  });
  expect(v.checks.filter((c) => !c.ok)).toEqual([]);
  expect(v.ok).toBe(true);
  expect(v.attested).toBe(true);
  return v;
}

describe("confidential runs (sample TEE, real KBS)", () => {
  it("announces the TEE and an identity key; a confidential run succeeds with an attested receipt", async () => {
    const { manager, id, announce } = await setup();
    expect(announce.capabilities.tee).toEqual({ type: "sample" });
    expect(announce.identityKey).toMatchObject({ kty: "OKP", crv: "Ed25519" });
    expect(JSON.stringify(announce.identityKey)).not.toContain('"d"');

    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["sample"] });
    const start = await manager.start(id, sealed.ciphertext, {
      args: ["sealed"],
      confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" },
    });
    expect(start.artifact.digest).toBe(sealed.ciphertextDigest);
    const result = await manager.result(id, start.runId);
    expect(result.error).toBeNull();
    expect(result.outcome).toBe("completed");
    expect(text(result.stdout)).toContain("Hello, sealed!");

    const v = await expectAttestedReceipt(result, start, sealed.plaintextDigest);
    expect(v.claims!.workload).toEqual({ plaintext: sealed.plaintextDigest, ciphertext: sealed.ciphertextDigest });
    expect(v.claims!.tee).toBe("sample");
    // Signed by the attested receipt key, not the identity key.
    expect(v.claims!.earToken).toBeTruthy();
    const header = decodeProtectedHeader(result.receipt!);
    expect(header.alg).toBe("ES256");
    expect(header.jwk).not.toEqual(announce.identityKey);
    const runtimeData = (decodeJwt(v.claims!.earToken!) as { submods: { cpu0: Record<string, { runtime_data_claims: Record<string, unknown> }> } }).submods.cpu0["ear.veraison.annotated-evidence"]!.runtime_data_claims;
    expect(runtimeData["receipt-pubkey"]).toEqual(header.jwk);
    expect(runtimeData["proplet-id"]).toBe(id);
    // A receipt bound to other outputs does not verify: it covers what was sent.
    const forged = await verifyReceipt(result.receipt!, { jwks: await t.jwks(), nonce: start.receiptNonce, output: { ...receiptOutput(result), exitCode: 7 } });
    expect(forged.ok).toBe(false);
  });

  it("a resource policy that refuses this TEE fails the task with the KBS's reason; nothing runs", async () => {
    const { manager, id } = await setup();
    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["snp"] });
    const start = await manager.start(id, sealed.ciphertext, { confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" } });
    const result = await manager.result(id, start.runId);
    expect(result.outcome).toBe("failed");
    expect(result.error?.code).toBe("kbs_denied");
    expect(result.error?.message).toContain('TEE "sample" is not allowed');
    expect(result.startedAt).toBeNull();
    expect(result.stdout).toBe("");
    // The proplet attested (only the release was refused): the failure is signed by the attested
    // key, so the manager checks it like any confidential result and keeps the KBS's reason.
    const v = await expectAttestedReceipt(result, start, sealed.plaintextDigest);
    expect(v.claims!.outcome).toBe("failed");
    expect(v.claims!.output.errorCode).toBe("kbs_denied");
  });

  it("a plaintext digest that does not match fails as plaintext_digest_mismatch", async () => {
    const { manager, id } = await setup();
    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["sample"] });
    const start = await manager.start(id, sealed.ciphertext, {
      confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sha256Digest(Buffer.from("another workload")), tee: "sample" },
    });
    const result = await manager.result(id, start.runId);
    expect(result.error?.code).toBe("plaintext_digest_mismatch");
    expect(result.stdout).toBe("");
    expect(result.startedAt).toBeNull();
    expect((await expectAttestedReceipt(result, start, start.confidential!.plaintextDigest)).claims!.output.errorCode).toBe("plaintext_digest_mismatch");
  });

  it("tampered ciphertext (its digest fixed so the artifact check passes) fails as decryption_failed", async () => {
    const { manager, id } = await setup();
    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["sample"] });
    const tampered = new Uint8Array(sealed.ciphertext);
    tampered[tampered.length - 20]! ^= 0x01;
    const start = await manager.start(id, tampered, { confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" } });
    expect(start.artifact.digest).toBe(sha256Digest(tampered));
    const result = await manager.result(id, start.runId);
    expect(result.error?.code).toBe("decryption_failed");
    expect(result.startedAt).toBeNull();
    await expectAttestedReceipt(result, start, sealed.plaintextDigest);
  });

  it("the artifact digest is the ciphertext's: a ciphertext swapped in transit fails before the KBS is asked", async () => {
    const { manager, id } = await setup();
    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["sample"] });
    const before = await t.attestations();
    const start = await manager.start(id, sealed.ciphertext, {
      artifact: { digest: sealed.plaintextDigest, location: { kind: "inline", data: Buffer.from(sealed.ciphertext).toString("base64") } },
      confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" },
    });
    const result = await manager.result(id, start.runId);
    expect(result.error?.code).toBe("digest_mismatch");
    expect(await t.attestations()).toBe(before);
    // Nothing attested yet: the identity key signs the refusal.
    const announce = manager.of("announce", id)[0]!;
    const v = await verifyReceipt(result.receipt!, { allowUnattested: true, propletKey: announce.identityKey!, nonce: start.receiptNonce, runId: start.runId, workloadDigest: sealed.plaintextDigest, output: receiptOutput(result) });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.attested).toBe(false);
  });

  it("a proplet without a TEE, or with another TEE, refuses a confidential task clearly", async () => {
    const plain = await setup({});
    expect(plain.announce.capabilities.tee).toBeNull();
    const resource = resourceName();
    const sealed = await t.seal(hello, resource, { allowedTees: ["sample"] });
    const spec = { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" as const };
    const s1 = await plain.manager.start(plain.id, sealed.ciphertext, { confidential: spec });
    const r1 = await plain.manager.result(plain.id, s1.runId);
    expect(r1.error?.code).toBe("confidential_unsupported");
    expect(r1.error?.message).toContain("no TEE");

    const sample = await setup();
    const s2 = await sample.manager.start(sample.id, sealed.ciphertext, { confidential: { ...spec, tee: "tpm" } });
    const r2 = await sample.manager.result(sample.id, s2.runId);
    expect(r2.error?.code).toBe("tee_mismatch");
    expect(r2.error?.message).toContain("tpm");
    for (const [r, s, a] of [[r1, s1, plain.announce], [r2, s2, sample.announce]] as const) {
      const v = await verifyReceipt(r.receipt!, { allowUnattested: true, propletKey: a.identityKey!, nonce: s.receiptNonce, runId: s.runId });
      expect(v.ok).toBe(true);
    }
  });

  it("a plain run's receipt is unattested, signed by the announced identity key, and names the artifact", async () => {
    const { manager, id, announce } = await setup({});
    const start = await manager.start(id, hello, { args: ["plain"] });
    const result = await manager.result(id, start.runId);
    expect(result.outcome).toBe("completed");
    const v = await verifyReceipt(result.receipt!, {
      allowUnattested: true,
      propletKey: announce.identityKey!,
      nonce: start.receiptNonce,
      taskId: start.taskId,
      runId: start.runId,
      propletId: id,
      workloadDigest: sha256Digest(hello),
      output: receiptOutput(result),
    });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.attested).toBe(false);
    expect(v.claims!.workload).toEqual({ plaintext: sha256Digest(hello), ciphertext: null });
    // Without allowUnattested it is refused; with another proplet's key it is refused.
    expect((await verifyReceipt(result.receipt!, { nonce: start.receiptNonce })).ok).toBe(false);
    const other = await setup({});
    expect((await verifyReceipt(result.receipt!, { allowUnattested: true, propletKey: other.announce.identityKey!, nonce: start.receiptNonce })).ok).toBe(false);
  });

  it("the receipt covers the result as sent: outputs cut to fit one MQTT payload are signed as cut", async () => {
    const { manager, id, announce } = await setup({});
    const start = await manager.start(id, await wat("spew"), { limits: { ...LIMITS_FOR_TESTS, outputBytes: LIMITS.maxOutputBytes } });
    const result = await manager.result(id, start.runId, 60_000);
    expect(result.outcome).toBe("completed");
    const sent = Buffer.from(result.stdout, "base64").byteLength;
    // The runtime kept 4 MiB; the result carries less (cut for MQTT), flagged truncated.
    expect(sent).toBeLessThan(LIMITS.maxOutputBytes);
    expect(result.stdoutTruncated).toBe(true);
    const v = await verifyReceipt(result.receipt!, { allowUnattested: true, propletKey: announce.identityKey!, nonce: start.receiptNonce, output: receiptOutput(result) });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.claims!.output.stdout).toBe(sha256Digest(Buffer.from(result.stdout, "base64")));
  }, 90_000);

  it("a stopped confidential run reports stopped, still with the attested receipt (the key was released)", async () => {
    const { manager, id } = await setup();
    const resource = resourceName();
    const sealed = await t.seal(await wat("loop"), resource, { allowedTees: ["sample"] });
    const start = await manager.start(id, sealed.ciphertext, { confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" } });
    await manager.next("tasks/accepted", id, (m) => m.runId === start.runId);
    // Stop only once the KBS has released the key (and the module had time to start looping).
    const deadline = Date.now() + 10_000;
    while ((await t.releases(resource)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await t.releases(resource)).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    await manager.stop(id, start.taskId, start.runId, "enough");
    const result = await manager.result(id, start.runId);
    expect(result.outcome).toBe("stopped");
    await expectAttestedReceipt(result, start, sealed.plaintextDigest);
    // Measured for the MQTT budget: the receipt (with its EAR token) is a few KiB.
    expect(result.receipt!.length).toBeLessThan(16 * 1024);
  });

  it("the manager's receipt rule (manager/receipts/check.ts) accepts the receipts as the proplet sends them", async () => {
    const { manager, id, announce } = await setup();
    const jwks = new JwksCache();
    const check = (start: Awaited<ReturnType<ScriptedManager["start"]>>, result: TaskResult) =>
      checkReceipt(
        { receipt: result.receipt, start, result, artifactDigest: start.artifact.digest, confidential: start.confidential, propletIdentityKey: announce.identityKey },
        jwks,
      );
    const ok = resourceName();
    const okSealed = await t.seal(hello, ok, { allowedTees: ["sample"] });
    const s1 = await manager.start(id, okSealed.ciphertext, { confidential: { kbsUrl: t.kbs.url, resource: ok, plaintextDigest: okSealed.plaintextDigest, tee: "sample" } });
    const denied = resourceName();
    const deniedSealed = await t.seal(hello, denied, { allowedTees: ["tdx"] });
    const s2 = await manager.start(id, deniedSealed.ciphertext, { confidential: { kbsUrl: t.kbs.url, resource: denied, plaintextDigest: deniedSealed.plaintextDigest, tee: "sample" } });
    await manager.result(id, s1.runId);
    await manager.result(id, s2.runId);
    const s3 = await manager.start(id, hello); // (maxConcurrency 2: a third at once would be refused as busy)
    for (const s of [s1, s2, s3]) {
      const r = await manager.result(id, s.runId);
      const c = await check(s, r);
      expect(c.reason).toBe("");
      expect(c.ok).toBe(true);
    }
    expect((await manager.result(id, s2.runId)).error?.code).toBe("kbs_denied");
  });

  it("reuses the KBS token across confidential tasks: the second does not attest again", async () => {
    const { manager, id } = await setup();
    const r1 = resourceName();
    const r2 = resourceName();
    const a = await t.seal(hello, r1, { allowedTees: ["sample"] });
    const b = await t.seal(hello, r2, { allowedTees: ["sample"] });
    const before = await t.attestations();
    const s1 = await manager.start(id, a.ciphertext, { args: ["one"], confidential: { kbsUrl: t.kbs.url, resource: r1, plaintextDigest: a.plaintextDigest, tee: "sample" } });
    const res1 = await manager.result(id, s1.runId);
    expect(text(res1.stdout)).toContain("Hello, one!");
    expect(await t.attestations()).toBe(before + 1);
    const s2 = await manager.start(id, b.ciphertext, { args: ["two"], confidential: { kbsUrl: t.kbs.url, resource: r2, plaintextDigest: b.plaintextDigest, tee: "sample" } });
    const res2 = await manager.result(id, s2.runId);
    expect(text(res2.stdout)).toContain("Hello, two!");
    expect(await t.attestations()).toBe(before + 1);
    const v1 = await expectAttestedReceipt(res1, s1, a.plaintextDigest);
    const v2 = await expectAttestedReceipt(res2, s2, b.plaintextDigest);
    expect(v2.claims!.earToken).toBe(v1.claims!.earToken);
  });
});

describe("concurrent confidential runs", () => {
  it("two confidential tasks started together on a fresh proplet share one attestation", async () => {
    const { manager, id } = await setup();
    const sealed = await Promise.all([0, 1].map(async () => {
      const resource = resourceName();
      return { resource, ...(await t.seal(hello, resource, { allowedTees: ["sample"] })) };
    }));
    const before = await t.attestations();
    const starts = await Promise.all(
      sealed.map((w, i) => manager.start(id, w.ciphertext, { args: [`c${i}`], confidential: { kbsUrl: t.kbs.url, resource: w.resource, plaintextDigest: w.plaintextDigest, tee: "sample" } })),
    );
    for (const [i, s] of starts.entries()) {
      const r = await manager.result(id, s.runId);
      expect(text(r.stdout)).toContain(`Hello, c${i}!`);
      await expectAttestedReceipt(r, s, sealed[i]!.plaintextDigest);
    }
    expect(await t.attestations()).toBe(before + 1);
  });
});

describe("the plaintext and the key never reach the disk", () => {
  let privateTmp: string;
  const savedTmp = process.env.TMPDIR;
  afterAll(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    await rm(privateTmp, { recursive: true, force: true });
  });

  it("after a confidential run, no file in the workDir or the temp dirs holds the plaintext or an age identity", async () => {
    // A plaintext no other test or file has (a custom section of random bytes), so the scan of the
    // shared temp dir cannot be fooled by someone else's files.
    const marker = randomBytes(32);
    const plaintext = withMarker(hello, marker);
    const resource = resourceName();
    const sealed = await t.seal(plaintext, resource, { allowedTees: ["sample"] });
    const systemTmp = tmpdir();
    const existing = new Set(await readdir(systemTmp));
    // The proplet's own temp files (its default workDir, anything a library puts in os.tmpdir())
    // go to a private temp dir, scanned whole.
    privateTmp = await mkdtemp(join(systemTmp, "proplet-disk-scan-"));
    process.env.TMPDIR = privateTmp;
    const { manager, id } = await setup();
    const start = await manager.start(id, sealed.ciphertext, { args: ["disk"], confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" } });
    const result = await manager.result(id, start.runId);
    expect(result.outcome).toBe("completed");
    expect(text(result.stdout)).toContain("Hello, disk!");

    const workDirs = (await readdir(privateTmp)).filter((e) => e.startsWith(`propeller-proplet-${id}-`));
    expect(workDirs).toHaveLength(1); // the scan covers the proplet's real workDir
    const needles = [Buffer.from(plaintext), marker, Buffer.from("AGE-SECRET-KEY-"), Buffer.from(sealed.identity)];
    const privateHits = await scan(privateTmp, needles);
    expect(privateHits.hits).toEqual([]);
    // Entries created in the system temp dir during the run: none holds this run's secrets (the
    // generic "AGE-SECRET-KEY-" is not searched here: other suites write age identities there).
    const created = (await readdir(systemTmp)).filter((e) => !existing.has(e) && join(systemTmp, e) !== privateTmp);
    for (const entry of created) {
      const found = await scan(join(systemTmp, entry), [Buffer.from(plaintext), marker, Buffer.from(sealed.identity)]);
      expect(found.hits).toEqual([]);
    }
    // The scanner finds what it is looking for (so an empty result means something).
    await writeFile(join(privateTmp, workDirs[0]!, "control"), Buffer.concat([Buffer.from("x"), marker]));
    expect((await scan(privateTmp, needles)).hits).toEqual([join(privateTmp, workDirs[0]!, "control")]);
  });
});

/** Walks `root` (bounded: 10k files, 64 MiB each) and reports which files contain any needle. */
async function scan(root: string, needles: Buffer[]): Promise<{ scanned: number; hits: string[] }> {
  const hits: string[] = [];
  let scanned = 0;
  const walk = async (path: string, depth: number): Promise<void> => {
    if (depth > 20 || scanned > 10_000) return;
    let s;
    try {
      s = await stat(path);
    } catch {
      return; // vanished meanwhile
    }
    if (s.isDirectory()) {
      let entries: string[] = [];
      try {
        entries = await readdir(path);
      } catch {
        return; // not ours to read
      }
      for (const e of entries) await walk(join(path, e), depth + 1);
    } else if (s.isFile() && s.size <= 64 * 1024 * 1024) {
      scanned++;
      const bytes = await readFile(path).catch(() => undefined);
      if (bytes && (await scanBytes(bytes, needles)).length > 0) hits.push(path);
    }
  };
  await walk(root, 0);
  return { scanned, hits };
}

async function scanBytes(bytes: Buffer, needles: Buffer[]): Promise<Buffer[]> {
  return needles.filter((n) => bytes.includes(n));
}
