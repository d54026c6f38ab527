/**
 * Confidential execution end to end, as a user drives it through the CLI, over the real services:
 * Mosquitto, PostgreSQL (manager and KBS), real HTTP, real proplets — with the sample TEE (KBS in
 * development mode) and with a real software TPM (swtpm; KBS in production mode, AK enrolled).
 *   propeller encrypt → propeller run --confidential → attested key release → run → receipt checked
 *   by the manager → propeller receipt verify offline.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/main.js";
import { startManager } from "../../manager/index.js";
import { startProplet, type PropletTeeConfig } from "../../proplet/index.js";
import { adminKeygen, setAttestationPolicy, mintAdminToken, startKbs } from "../../kbs/index.js";
import { TpmAttester } from "../../attestation/attesters/tpm.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { TEST_MQTT_URL } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { describeWithSwtpm, startSwtpm } from "../../testing/swtpm.js";
import { E2E_ADMIN_KEY, E2E_AUTH } from "./helpers.js";

const logger = pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" });

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

interface Deployment {
  managerUrl: string;
  kbsUrl: string;
  adminKeyFile: string;
  dir: string;
  close(): Promise<void>;
}

async function deploy(tee: PropletTeeConfig, kbsOptions: { developmentMode: boolean; verifiers?: Record<string, unknown> }, teeName: "sample" | "tpm"): Promise<Deployment> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const dir = await mkdtemp(join(tmpdir(), "e2e-confidential-"));
  const managerDb = await createTestDatabase("e2e_mgr");
  cleanups.push(() => managerDb.drop());
  const kbsDb = await createTestDatabase("e2e_kbs");
  cleanups.push(() => kbsDb.drop());
  const admin = await adminKeygen({ id: "ops" });
  const adminKeyFile = join(dir, "ops.key.jwk");
  await writeFile(adminKeyFile, JSON.stringify({ ...admin.privateJwk, kid: "ops" }), { mode: 0o600 });
  const kbs = await startKbs(
    {
      listen: { host: "127.0.0.1", port: 0 },
      databaseUrl: kbsDb.url,
      masterKey: randomBytes(32).toString("base64"),
      admin: { keys: [{ id: "ops", publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] },
      ...kbsOptions,
    } as Parameters<typeof startKbs>[0],
    { logger },
  );
  cleanups.push(() => kbs.close());
  // The operator's appraisal policy for this TEE: no reference values in this lab (the resource
  // policy below still requires an affirming status); a software TPM acknowledged.
  await setAttestationPolicy({ url: kbs.url, token: () => mintAdminToken({ ...admin.privateJwk, kid: "ops" }, { keyId: "ops" }) }, teeName, { id: `e2e/${teeName}`, requireReferenceValues: false, unsafeClaims: [] });

  const topicRoot = uniqueTopicRoot();
  const manager = await startManager({ databaseUrl: managerDb.url, mqtt: { url: TEST_MQTT_URL }, topicRoot, http: { port: 0 }, auth: E2E_AUTH, logger });
  cleanups.push(() => manager.close());
  const proplet = await startProplet({ id: `tee-${teeName}`, mqtt: { url: TEST_MQTT_URL }, topicRoot, tee, logger });
  cleanups.push(() => proplet.close());
  const plain = await startProplet({ id: "no-tee", mqtt: { url: TEST_MQTT_URL }, topicRoot, logger });
  cleanups.push(() => plain.close());
  await waitFor(async () => {
    const r = (await (await fetch(`${manager.url}/proplets`, { headers: { authorization: `Bearer ${E2E_ADMIN_KEY}` } })).json()) as { items: Array<{ alive: boolean }> };
    return r.items.filter((p) => p.alive).length === 2;
  }, 15_000, "proplets");
  return {
    managerUrl: manager.url,
    kbsUrl: kbs.url,
    adminKeyFile,
    dir,
    async close() {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    },
  };
}

async function confidentialFlow(d: Deployment, tee: "sample" | "tpm") {
  const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
  const sealed = join(d.dir, "hello.wasm.age");
  const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", d.kbsUrl, "--resource", `e2e/key/hello-${tee}`, "--tee", tee, "--admin-key", d.adminKeyFile, "--json"]);
  expect(enc.code, enc.err).toBe(0);
  const { plaintextDigest, resource } = JSON.parse(enc.out) as { plaintextDigest: string; resource: string };

  const receiptFile = join(d.dir, `receipt-${tee}.jws`);
  const run = await cli([
    "run", sealed, "secret-arg", "--confidential", "--tee", tee, "--kbs", d.kbsUrl, "--resource", resource,
    "--plaintext-digest", plaintextDigest, "--manager", d.managerUrl, "--token", E2E_ADMIN_KEY, "--receipt-out", receiptFile, "--stdin", wasm,
  ]);
  expect(run.code, `${run.out}\n${run.err}`).toBe(0);
  expect(run.out).toContain("Hello, secret-arg!");
  expect(run.err).toMatch(new RegExp(`on tee-${tee}`)); // never on the proplet without a TEE
  expect(run.err).toMatch(/✔ token.key-binding/);
  expect(run.err).toMatch(new RegExp(`attested by ${tee}`));

  // Anyone, offline: the receipt, the KBS's JWKS saved to a file, the digests they expect.
  const jwksFile = join(d.dir, `jwks-${tee}.json`);
  await writeFile(jwksFile, await (await fetch(`${d.kbsUrl}/.well-known/jwks.json`)).text());
  const offline = await cli(["receipt", "verify", receiptFile, "--jwks", jwksFile, "--expect-workload", plaintextDigest]);
  expect(offline.code, offline.out).toBe(0);
  const wrongWorkload = await cli(["receipt", "verify", receiptFile, "--jwks", jwksFile, "--expect-workload", `sha256:${"0".repeat(64)}`]);
  expect(wrongWorkload.code).toBe(1);
  const jws = (await readFile(receiptFile, "utf8")).trim();
  const [h, p, s] = jws.split(".");
  const payload = Buffer.from(p!, "base64url");
  payload[payload.length - 3] = payload[payload.length - 3]! ^ 1;
  await writeFile(join(d.dir, "tampered.jws"), `${h}.${payload.toString("base64url")}.${s}`);
  const tampered = await cli(["receipt", "verify", join(d.dir, "tampered.jws"), "--jwks", jwksFile]);
  expect(tampered.code).toBe(1);
  expect(tampered.out).toMatch(/✘ receipt.signature/);
}

describe("confidential end to end with the sample TEE (Mosquitto, PostgreSQL, KBS in development mode)", () => {
  let d: Deployment;
  beforeAll(async () => {
    d = await deploy({ type: "sample" }, { developmentMode: true }, "sample");
  }, 120_000);
  afterAll(async () => {
    await d?.close();
  });

  it("encrypt → run --confidential → attested release → run → receipt checked → verified offline", async () => {
    await confidentialFlow(d, "sample");
  });

  it("a policy that refuses this TEE: the task fails with the KBS's reason and nothing runs", async () => {
    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const policy = join(d.dir, "snp-only.json");
    await writeFile(policy, JSON.stringify({ allowedTees: ["snp"], requiredStatus: "affirming" }));
    const sealed = join(d.dir, "refused.wasm.age");
    const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", d.kbsUrl, "--resource", "e2e/key/refused", "--policy", policy, "--admin-key", d.adminKeyFile, "--json"]);
    expect(enc.code).toBe(0);
    const { plaintextDigest, resource } = JSON.parse(enc.out) as { plaintextDigest: string; resource: string };
    const run = await cli(["run", sealed, "--confidential", "--tee", "sample", "--kbs", d.kbsUrl, "--resource", resource, "--plaintext-digest", plaintextDigest, "--manager", d.managerUrl, "--token", E2E_ADMIN_KEY, "--json"]);
    expect(run.code).toBe(1);
    const task = JSON.parse(run.out.slice(0, run.out.lastIndexOf("}") + 1)) as { state: string; latestRun: { result: { stdout: string; error: { code: string; message: string } } } };
    expect(task.state).toBe("failed");
    expect(task.latestRun.result.error.code).toBe("kbs_denied");
    expect(task.latestRun.result.error.message).toMatch(/TEE "sample" is not allowed/);
    expect(task.latestRun.result.stdout).toBe("");
  });

  it("a wrong plaintext digest: refused after decryption, nothing runs", async () => {
    const wasm = join(EXAMPLES_DIR, "hello", "hello.wasm");
    const sealed = join(d.dir, "digest.wasm.age");
    const enc = await cli(["encrypt", wasm, "--out", sealed, "--kbs", d.kbsUrl, "--resource", "e2e/key/digest", "--tee", "sample", "--admin-key", d.adminKeyFile, "--json"]);
    const { resource } = JSON.parse(enc.out) as { resource: string };
    const run = await cli(["run", sealed, "--confidential", "--tee", "sample", "--kbs", d.kbsUrl, "--resource", resource, "--plaintext-digest", `sha256:${"ab".repeat(32)}`, "--manager", d.managerUrl, "--token", E2E_ADMIN_KEY]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/plaintext_digest_mismatch/);
  });
});

describeWithSwtpm("confidential end to end with a real software TPM (swtpm; KBS in production mode)", () => {
  let d: Deployment;
  let tpm: Awaited<ReturnType<typeof startSwtpm>>;
  beforeAll(async () => {
    tpm = await startSwtpm();
    // Enrol the proplet's attestation key with the KBS (provisioning is idempotent: the proplet reuses it).
    const ak = await new TpmAttester({ tcti: tpm.tcti }).akPublic();
    d = await deploy({ type: "tpm", tcti: tpm.tcti } as PropletTeeConfig, { developmentMode: false, verifiers: { tpm: { trustedAkFingerprints: [ak.fingerprint] } } }, "tpm");
  }, 180_000);
  afterAll(async () => {
    await d?.close();
    await tpm?.dispose();
  });

  it("encrypt → run --confidential → TPM quote → key release → run → receipt attested by tpm → verified offline", async () => {
    await confidentialFlow(d, "tpm");
  });
});
