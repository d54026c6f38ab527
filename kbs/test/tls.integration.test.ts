import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { request } from "node:https";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { initCa, issue } from "../../certs/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { SAMPLE_POLICY, sampleSvnReference, startTestKbs, type TestKbs } from "./helpers.js";

const run = promisify(execFile);
const SCRIPT = join(fileURLToPath(new URL(".", import.meta.url)), "interop", "stock_client.py");

function post(url: string, body: unknown, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json" }, ...(ca ? { ca } : {}), timeout: 10_000 }, (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("KBS over HTTPS (certificate from the project's certs/ CA)", () => {
  let dir: string;
  let pg: TestDatabase;
  let t: TestKbs;
  let caPem: Buffer;
  let caPath: string;
  const secret = randomBytes(32);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kbs-tls-"));
    const ca = await initCa(dir, { name: "KBS test CA" });
    const server = await issue(dir, "server", "kbs", { sans: ["IP:127.0.0.1"] });
    caPath = ca.certPath;
    caPem = await readFile(caPath);
    pg = await createTestDatabase("kbs_tls");
    t = await startTestKbs({ databaseUrl: pg.url, developmentMode: true, tls: { certFile: server.chainPath, keyFile: server.keyPath } });
  });
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("listens on https and answers a client that trusts the CA; one that does not is refused by TLS", async () => {
    expect(t.url.startsWith("https://")).toBe(true);
    const ok = await post(`${t.url}/kbs/v0/auth`, { version: "0.4.0", tee: "sample" }, caPem);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)["extra-params"]).toBe("");
    await expect(post(`${t.url}/kbs/v0/auth`, { version: "0.4.0", tee: "sample" })).rejects.toThrow(/certificate/i);
  });

  it("the Python stock client completes the flow over TLS and decrypts the resource", async () => {
    // The admin client uses fetch, which cannot be given a CA here: set the resource up through the store seam of this instance.
    await t.kbs.context.resources.put("tls/key/one", secret, "admin:test", null);
    await t.kbs.context.policies.setResourcePolicy("tls/key/one", SAMPLE_POLICY, "admin:test");
    await t.kbs.context.referenceValues.add({ ...sampleSvnReference(), expiresAt: new Date(Date.now() + 3600_000) }, "admin:test");
    const { stdout } = await run("/usr/bin/python3", [SCRIPT, t.url, "tls/key/one"], { timeout: 60_000, env: { ...process.env, SSL_CERT_FILE: caPath } });
    expect(JSON.parse(stdout.trim().split("\n").pop()!).plaintext_hex).toBe(secret.toString("hex"));
  });
});
