/**
 * Offline commands: with --json, stdout is one JSON document (scripts parse it) and nothing else is
 * on stdout; results are on stdout, never only on stderr.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../main.js";

async function cli(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "propeller-json-"));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe("--json on offline commands", () => {
  it("certs init / issue / verify / revoke / show", async () => {
    const certs = join(dir, "pki");
    const init = await cli(["certs", "init", "--dir", certs, "--json"]);
    expect(init.code).toBe(0);
    expect(JSON.parse(init.out)).toMatchObject({ certPath: join(certs, "ca.pem"), keyPath: expect.stringContaining(certs) });
    const issued = await cli(["certs", "issue", "proplet", "edge-1", "--dir", certs, "--json"]);
    const cert = JSON.parse(issued.out) as { commonName: string; certPath: string };
    expect(cert.commonName).toBe("edge-1");
    const verified = JSON.parse((await cli(["certs", "verify", cert.certPath, "--dir", certs, "--json"])).out) as { ok: boolean };
    expect(verified.ok).toBe(true);
    expect(JSON.parse((await cli(["certs", "show", cert.certPath, "--json"])).out)).toMatchObject({ commonName: "edge-1" });
    const revoked = await cli(["certs", "revoke", "edge-1", "--dir", certs, "--json"]);
    expect(JSON.parse(revoked.out)).toMatchObject({ commonName: "edge-1" });
    const after = await cli(["certs", "verify", cert.certPath, "--dir", certs, "--json"]);
    expect(after.code).toBe(1);
    expect((JSON.parse(after.out) as { ok: boolean }).ok).toBe(false);
  });

  it("broker config and passwd", async () => {
    const certs = join(dir, "pki");
    await cli(["certs", "issue", "server", "broker", "--dir", certs, "--san", "DNS:localhost"]);
    const config = await cli(["broker", "config", "--certs", certs, "--out", join(dir, "mosquitto"), "--json"]);
    expect(config.code).toBe(0);
    expect(JSON.parse(config.out)).toMatchObject({ configPath: expect.stringContaining("mosquitto") });
    const passwd = await cli(["broker", "passwd", "edge-2", "--file", join(dir, "creds.json"), "--json"]);
    expect(JSON.parse(passwd.out)).toMatchObject({ propletId: "edge-2", password: expect.any(String) });
    // Without --json the password alone is the result on stdout; the advice goes to stderr.
    const plain = await cli(["broker", "passwd", "edge-3", "--file", join(dir, "creds.json")]);
    expect(plain.out.trim()).toMatch(/^\S+$/);
    expect(plain.err).toContain("edge-3");
  });

  it("kbs admin-keygen and apikey generate", async () => {
    const keygen = await cli(["kbs", "admin-keygen", "--id", "ops", "--out", join(dir, "keys"), "--json"]);
    expect(JSON.parse(keygen.out)).toMatchObject({ id: "ops", privateKeyPath: join(dir, "keys", "ops.key.jwk") });
    const key = JSON.parse((await cli(["apikey", "generate", "--json"])).out) as { key: string; keyId: string };
    expect(key.key).toContain(key.keyId);
  });
});
