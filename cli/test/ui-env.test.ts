/** `propeller manager serve`'s dashboard variables: PROPELLER_UI and the KBS whose audit it shows. */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { managerSettingsFromEnv } from "../service-env.js";

const API_KEY = "prop_0123456789abcdef_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

describe("dashboard environment", () => {
  let dir: string;
  let base: Record<string, string>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "ui-env-"));
    await writeFile(join(dir, "api-key"), API_KEY);
    await writeFile(join(dir, "kbs.jwk"), JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x", d: "secret-d", kid: "dashboard" }));
    await writeFile(join(dir, "kbs.pem"), "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n");
    await writeFile(join(dir, "kbs.token"), "tok.en.value\n");
    base = { PROPELLER_DATABASE_URL: "postgres://p@db/p", PROPELLER_MQTT_URL: "mqtt://broker:1883", PROPELLER_BOOTSTRAP_API_KEY_FILE: join(dir, "api-key") };
  });

  it("nothing set: no ui settings (the manager's default: on, no KBS)", async () => {
    expect((await managerSettingsFromEnv(base)).ui).toBeUndefined();
    expect((await managerSettingsFromEnv({ ...base, PROPELLER_UI: "off" })).ui).toEqual({ enabled: false });
  });

  it("a KBS with a JWK (its kid), a PEM with an id, or a token", async () => {
    const jwk = await managerSettingsFromEnv({ ...base, PROPELLER_UI_KBS_URL: "https://kbs:8443", PROPELLER_UI_KBS_ADMIN_KEY_FILE: join(dir, "kbs.jwk") });
    expect(jwk.ui?.kbs?.key?.id).toBe("dashboard");
    const pem = await managerSettingsFromEnv({ ...base, PROPELLER_UI_KBS_URL: "https://kbs:8443", PROPELLER_UI_KBS_ADMIN_KEY_FILE: join(dir, "kbs.pem"), PROPELLER_UI_KBS_ADMIN_KEY_ID: "ops" });
    expect(pem.ui?.kbs?.key).toMatchObject({ id: "ops", pem: expect.stringContaining("PRIVATE KEY") });
    const token = await managerSettingsFromEnv({ ...base, PROPELLER_UI_KBS_URL: "https://kbs:8443", PROPELLER_UI_KBS_ADMIN_TOKEN_FILE: join(dir, "kbs.token") });
    expect(token.ui?.kbs?.token).toBe("tok.en.value");
  });

  it("refuses half a configuration and a bad flag, naming each variable, echoing no key", async () => {
    const msg = await managerSettingsFromEnv({ ...base, PROPELLER_UI: "maybe", PROPELLER_UI_KBS_URL: "https://kbs", PROPELLER_UI_KBS_ADMIN_KEY_FILE: join(dir, "kbs.pem") }).catch((e: Error) => e.message);
    expect(msg).toMatch(/PROPELLER_UI: "maybe"/);
    expect(msg).toMatch(/PROPELLER_UI_KBS_ADMIN_KEY_ID is required/);
    expect(msg).not.toContain("secret");
    expect(await managerSettingsFromEnv({ ...base, PROPELLER_UI_KBS_URL: "https://kbs" }).catch((e: Error) => e.message)).toMatch(/PROPELLER_UI_KBS_URL needs/);
    expect(await managerSettingsFromEnv({ ...base, PROPELLER_UI_KBS_ADMIN_TOKEN_FILE: join(dir, "kbs.token") }).catch((e: Error) => e.message)).toMatch(/need PROPELLER_UI_KBS_URL/);
  });
});
