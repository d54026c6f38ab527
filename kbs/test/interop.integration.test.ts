import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { addReferenceValue, putResource, setResourcePolicy } from "../admin-client.js";
import { canonicalSha384 } from "../../protocol/jcs.js";
import { runtimeDataHash } from "../service/report-data.js";
import { auditRows, SAMPLE_POLICY, sampleSvnReference, startTestKbs, type TestKbs } from "./helpers.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";

const run = promisify(execFile);
const PYTHON = "/usr/bin/python3";
const SCRIPT = join(fileURLToPath(new URL(".", import.meta.url)), "interop", "stock_client.py");

describe("interop: a Python client written only from KBS-PROTOCOL.md (python3-jwcrypto)", () => {
  let t: TestKbs;
  let pg: TestDatabase;
  const secret = randomBytes(32);

  beforeAll(async () => {
    pg = await createTestDatabase("kbs_interop");
    t = await startTestKbs({ developmentMode: true, databaseUrl: pg.url });
    await putResource(t.conn, "interop/key/py", secret);
    await setResourcePolicy(t.conn, "interop/key/py", SAMPLE_POLICY);
    await addReferenceValue(t.conn, sampleSvnReference());
  });
  afterAll(async () => {
    await t?.close();
    await pg?.drop();
  });

  it("reproduces the worked example hash in TypeScript too", () => {
    const runtimeData = { nonce: "bm9uY2U=", "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: "AAAA", y: "BBBB" } };
    expect(runtimeDataHash(runtimeData, "").toString("hex")).toBe(
      "d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43",
    );
    expect(runtimeDataHash(runtimeData, "").toString("base64")).toBe("0gSQ0w5fFsumk6vByjwx7Zd9JyLQrfAamAly0WkT3DjxA8HxKr9HffBSOvKxLktD");
    expect(canonicalSha384({ b: 1, a: "test", c: { d: "e" } }).toString("hex")).toBe(
      "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3",
    );
  });

  for (const kind of ["ec", "rsa"] as const) {
    it(`completes auth → attest → resource (cookie and bearer) and decrypts the ${kind} JWE with jwcrypto`, async () => {
      expect(existsSync(PYTHON)).toBe(true);
      const { stdout } = await run(PYTHON, [SCRIPT, t.url, "interop/key/py", kind], { timeout: 60_000 });
      const result = JSON.parse(stdout.trim().split("\n").pop()!);
      expect(result.example_sha384).toBe("d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43");
      expect(result.status).toBe("affirming");
      expect(result.alg).toEqual(kind === "ec" ? ["ECDH-ES+A256KW", "ECDH-ES+A256KW"] : ["RSA-OAEP-256", "RSA-OAEP-256"]);
      expect(result.plaintext_hex).toBe(secret.toString("hex"));
    });
  }

  it("recorded both releases in the audit log", async () => {
    const rows = (await auditRows(t.kbs, "release")).filter((r) => r.subject === "interop/key/py");
    expect(rows.length).toBe(4);
  });
});
