/** `propeller manager serve`'s transparency-log variables: key file, witnesses, checkpoint cadence, public reads. */
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { managerSettingsFromEnv } from "../service-env.js";
import { resolveLogConfig } from "../../manager/tlog/config.js";
import { generateNoteKey, SIG_COSIGNATURE_V1 } from "../../protocol/tlog/index.js";

const API_KEY = "prop_0123456789abcdef_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

describe("transparency log environment", () => {
  let dir: string;
  let base: Record<string, string>;
  const logKey = generateNoteKey("log.example/receipts");
  const witness = generateNoteKey("witness.example/w", SIG_COSIGNATURE_V1);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tlog-env-"));
    await writeFile(join(dir, "api-key"), API_KEY);
    await writeFile(join(dir, "log.key"), `${logKey.signerKey}\n`);
    base = { PROPELLER_DATABASE_URL: "postgres://p@db/p", PROPELLER_MQTT_URL: "mqtt://broker:1883", PROPELLER_BOOTSTRAP_API_KEY_FILE: join(dir, "api-key") };
  });

  it("nothing set: the manager's defaults (generated key, 256 entries or 5 s, public reads)", async () => {
    expect((await managerSettingsFromEnv(base)).log).toBeUndefined();
  });

  it("every setting, as the manager's log configuration resolves it", async () => {
    const settings = await managerSettingsFromEnv({
      ...base,
      PROPELLER_TLOG_SIGNER_KEY_FILE: join(dir, "log.key"),
      PROPELLER_TLOG_WITNESSES: ` ${witness.verifierKey} ,`,
      PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES: "1000",
      PROPELLER_TLOG_CHECKPOINT_EVERY_MS: "30000",
      PROPELLER_TLOG_PUBLIC_READ: "off",
    });
    expect(settings.log).toEqual({ signerKey: logKey.signerKey, witnesses: [witness.verifierKey], checkpointEveryEntries: 1000, checkpointEveryMs: 30_000, publicRead: false });
    const problems: string[] = [];
    const resolved = resolveLogConfig(settings.log, problems);
    expect(problems).toEqual([]);
    expect(resolved).toMatchObject({ origin: "log.example/receipts", checkpointEveryEntries: 1000, checkpointEveryMs: 30_000, publicRead: false });
    expect(resolved.witnesses.map((w) => w.name)).toEqual(["witness.example/w"]);
    expect((await managerSettingsFromEnv({ ...base, PROPELLER_TLOG_PUBLIC_READ: "on" })).log).toEqual({ publicRead: true });
  });

  it("refuses malformed values, naming each variable; the manager refuses out-of-range cadences", async () => {
    const msg = await managerSettingsFromEnv({
      ...base,
      PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES: "0",
      PROPELLER_TLOG_CHECKPOINT_EVERY_MS: "5s",
      PROPELLER_TLOG_PUBLIC_READ: "yes",
    }).catch((e: Error) => e.message);
    expect(msg).toMatch(/PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES: "0" is not a positive integer/);
    expect(msg).toMatch(/PROPELLER_TLOG_CHECKPOINT_EVERY_MS: "5s"/);
    expect(msg).toMatch(/PROPELLER_TLOG_PUBLIC_READ: "yes" is not on or off/);
    const problems: string[] = [];
    resolveLogConfig((await managerSettingsFromEnv({ ...base, PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES: "2000000", PROPELLER_TLOG_CHECKPOINT_EVERY_MS: "5" })).log, problems);
    expect(problems.join("\n")).toMatch(/log.checkpointEveryEntries: must be an integer 1..1000000/);
    expect(problems.join("\n")).toMatch(/log.checkpointEveryMs: must be an integer 10..86400000/);
  });
});
