/** Task secrets at rest: sealed per task, opened only with the same key and the same task id. */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openSpec, sealSpec, secretBox, secretEnvNames, type SealedSecretEnv } from "../tasks/secrets.js";
import { resolveConfig } from "../config.js";

const env = { API_TOKEN: "sk-live-abc123", EXIT_CODE: "42" };

describe("secret env sealing", () => {
  it("the sealed spec holds names and ciphertext only; opening it gives the values back", () => {
    const box = secretBox(randomBytes(32));
    type Spec = { env?: Record<string, string>; secretEnv?: Record<string, string>; sealedSecretEnv?: SealedSecretEnv | null };
    const sealed = sealSpec<Spec>({ env: { A: "1" }, secretEnv: env }, "task-1", box);
    expect(sealed.secretEnv).toBeUndefined();
    expect(JSON.stringify(sealed)).not.toContain("sk-live-abc123");
    expect(sealed.sealedSecretEnv).toMatchObject({ v: 1, names: ["API_TOKEN", "EXIT_CODE"], kid: box.kid });
    expect(secretEnvNames(sealed)).toEqual(["API_TOKEN", "EXIT_CODE"]);
    expect(openSpec(sealed, "task-1", box).secretEnv).toEqual(env);
    // Fresh nonce each time: the same values never give the same ciphertext.
    expect(sealSpec<Spec>({ secretEnv: env }, "task-1", box).sealedSecretEnv!.ct).not.toBe(sealed.sealedSecretEnv!.ct);
    // No secrets: nothing sealed, nothing to open.
    expect(sealSpec<Spec>({ secretEnv: {} }, "t", box).sealedSecretEnv).toBeNull();
  });

  it("another task id, another key, or an altered byte: refused with the reason", () => {
    const box = secretBox(randomBytes(32));
    const sealed = sealSpec<{ secretEnv?: Record<string, string>; sealedSecretEnv?: SealedSecretEnv | null }>({ secretEnv: env }, "task-1", box);
    expect(() => openSpec(sealed, "task-2", box)).toThrow(/does not open \(altered, or moved from another task\)/);
    const other = secretBox(randomBytes(32));
    expect(() => openSpec(sealed, "task-1", other)).toThrow(new RegExp(`sealed with secrets key ${box.kid}, and this manager has key ${other.kid}`));
    const ct = Buffer.from(sealed.sealedSecretEnv!.ct, "base64");
    ct[0]! ^= 1;
    expect(() => openSpec({ sealedSecretEnv: { ...sealed.sealedSecretEnv!, ct: ct.toString("base64") } }, "task-1", box)).toThrow(/does not open/);
  });

  it("rows written before sealing (plain secretEnv) still run", () => {
    const box = secretBox(randomBytes(32));
    expect(openSpec({ secretEnv: env }, "old", box).secretEnv).toEqual(env);
  });

  it("the configured key is 32 bytes (or their base64); a bad one is refused without echoing it", () => {
    const base = { databaseUrl: "pglite://memory", mqtt: { url: "mqtt://127.0.0.1:1883" } };
    const key = randomBytes(32);
    expect(resolveConfig({ ...base, secretsKey: key.toString("base64") }).secretsKey).toEqual(key);
    expect(resolveConfig(base).secretsKey).toBeNull();
    expect(() => resolveConfig({ ...base, secretsKey: "not-a-key-but-secret-text" })).toThrow(/secretsKey: must be 32 bytes/);
    expect(() => resolveConfig({ ...base, secretsKey: "not-a-key-but-secret-text" })).not.toThrow(/secret-text/);
    expect(() => secretBox(randomBytes(16))).toThrow(/must be 32 bytes/);
  });
});
