import { describe, expect, it } from "vitest";
import { mkdtemp, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { kbsConfigFromEnv, resolveKbsConfig } from "../config.js";
import { KbsConfigError } from "../errors.js";
import { adminKeygen } from "../admin-client.js";
import { loadVerifier, UnsupportedTeeError } from "../../attestation/registry.js";

const masterKey = randomBytes(32).toString("base64");

describe("KBS configuration", () => {
  it("fills safe defaults: not development mode, no admin keys", async () => {
    const c = await resolveKbsConfig({ masterKey }, {});
    expect(c.developmentMode).toBe(false);
    expect(c.admin.keys).toEqual([]);
    expect(c.databaseUrl).toBe("pglite://memory");
  });

  it("reports every bad value at once", async () => {
    const rsa = generateRsaPem();
    const err = await resolveKbsConfig(
      { masterKey: "c2hvcnQ=", tokenLifetimeSeconds: 0, databaseUrl: "mysql://x", admin: { keys: [{ id: "a", publicKey: rsa, roles: ["admin"] }] }, verifiers: { tpm: { acceptAnyAk: true }, snp: { policy: { allowedVmpls: [7] } }, tdx: { policy: { allowDebug: "yes" } } } },
      {},
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KbsConfigError);
    const problems = (err as KbsConfigError).problems.join("\n");
    expect(problems).toMatch(/masterKey.*32 bytes/);
    expect(problems).toMatch(/tokenLifetimeSeconds/);
    expect(problems).toMatch(/databaseUrl/);
    expect(problems).toMatch(/admin keys must be Ed25519 or EC P-256/);
    expect(problems).toMatch(/acceptAnyAk: only allowed in development mode/);
    expect(problems).toMatch(/verifiers\.snp\.policy: invalid SNP appraisal policy: \/allowedVmpls\/0/);
    expect(problems).toMatch(/verifiers\.tdx\.policy: TDX appraisal policy is invalid/);
  });

  it("requires a master key and says how to make one", async () => {
    await expect(resolveKbsConfig({}, {})).rejects.toThrow(/openssl rand -base64 32/);
  });

  it("reads the master key and admin keys from files and the environment", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kbs-config-"));
    try {
      const admin = await adminKeygen({ id: "ops" });
      await writeFile(join(dir, "master"), `${masterKey}\n`);
      await writeFile(join(dir, "admin.pem"), admin.publicPem);
      const env = {
        PROPELLER_KBS_MASTER_KEY_FILE: join(dir, "master"),
        PROPELLER_KBS_LISTEN: "0.0.0.0:9000",
        PROPELLER_KBS_DEVELOPMENT: "true",
        PROPELLER_KBS_ADMIN_KEYS: JSON.stringify([{ id: "ops", publicKey: `file:${join(dir, "admin.pem")}`, roles: ["admin"] }]),
        PROPELLER_KBS_TPM_AK_FINGERPRINTS: "aa:bb, cc",
      };
      const c = await resolveKbsConfig(kbsConfigFromEnv(env), env);
      expect(c.masterKey).toBe(masterKey);
      expect(c.listen).toEqual({ host: "0.0.0.0", port: 9000 });
      expect(c.developmentMode).toBe(true);
      expect(c.admin.keys[0]!.publicKey).toContain("BEGIN PUBLIC KEY");
      expect(c.verifiers.tpm?.trustedAkFingerprints).toEqual(["aa:bb", "cc"]);
      expect(() => kbsConfigFromEnv({ PROPELLER_KBS_DEVELOPMENT: "yes", PROPELLER_KBS_TOKEN_LIFETIME: "5m" })).toThrow(/PROPELLER_KBS_DEVELOPMENT[\s\S]*PROPELLER_KBS_TOKEN_LIFETIME/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("verifier registry", () => {
  it("loads the landed verifiers by TEE name", async () => {
    expect((await loadVerifier("sample")).tee).toBe("sample");
    expect((await loadVerifier("tpm", { trustedAkFingerprints: [] })).tee).toBe("tpm");
    expect((await loadVerifier("snp")).tee).toBe("snp");
    expect((await loadVerifier("az-snp-vtpm")).tee).toBe("az-snp-vtpm");
    expect((await loadVerifier("tdx", { collateral: async () => undefined })).tee).toBe("tdx");
  });
  it("reports a TEE without a verifier as unsupported instead of failing", async () => {
    await expect(loadVerifier("cca")).rejects.toBeInstanceOf(UnsupportedTeeError);
    await expect(loadVerifier("__proto__")).rejects.toThrow(/unsupported TEE/);
  });
});

function generateRsaPem(): string {
  return generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "pem", type: "spki" }).toString();
}
