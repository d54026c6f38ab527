import { describe, expect, it } from "vitest";
import { resolvePropletConfig } from "../config.js";
import { PropletConfigError } from "../errors.js";

const base = { id: "p1", mqtt: { url: "mqtt://127.0.0.1:1883" } };
const problems = (tee: unknown): string[] => {
  try {
    resolvePropletConfig({ ...base, tee } as never);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(PropletConfigError);
    return (err as PropletConfigError).details?.problems as string[];
  }
};

describe("proplet tee configuration (explicit, never guessed)", () => {
  it("no tee by default; sample and tpm only when configured", () => {
    expect(resolvePropletConfig(base).tee).toBeUndefined();
    expect(resolvePropletConfig({ ...base, tee: { type: "sample" } }).tee).toEqual({ type: "sample" });
    expect(resolvePropletConfig({ ...base, tee: { type: "tpm", tcti: "device:/dev/tpmrm0", pcrCount: 8 } }).tee).toEqual({ type: "tpm", tcti: "device:/dev/tpmrm0", pcrCount: 8 });
  });

  it("refuses unknown TEEs, a TPM without a valid tcti, and unknown or out-of-range members, one message each", () => {
    expect(problems({ type: "sev" })).toEqual([expect.stringContaining('tee.type must be "sample", "snp", "tdx", "tpm" or "az-snp-vtpm"')]);
    // SNP and TDX guests attest through configfs-tsm; the folder may be configured, never guessed.
    expect(resolvePropletConfig({ ...base, tee: { type: "snp", privlevel: 0 } }).tee).toEqual({ type: "snp", privlevel: 0 });
    expect(resolvePropletConfig({ ...base, tee: { type: "tdx", root: "/sys/kernel/config/tsm/report" } }).tee).toEqual({ type: "tdx", root: "/sys/kernel/config/tsm/report" });
    expect(problems({ type: "snp", root: "relative/path" })).toEqual([expect.stringContaining("tee.root must be an absolute path")]);
    expect(problems({ type: "snp", privlevel: 4 })).toEqual([expect.stringContaining("tee.privlevel must be 0 to 3")]);
    expect(problems({ type: "az-tdx-vtpm" })).toEqual([expect.stringContaining('a proplet cannot produce its evidence yet (no attester is written); configure one of "sample", "snp", "tdx", "tpm" or "az-snp-vtpm"')]);
    // An Azure SNP CVM: its vTPM (default /dev/tpmrm0) and, offline, a saved VCEK.
    expect(resolvePropletConfig({ ...base, tee: { type: "az-snp-vtpm", vcekFile: "/etc/propeller/vcek.pem" } }).tee).toEqual({ type: "az-snp-vtpm", vcekFile: "/etc/propeller/vcek.pem" });
    expect(problems({ type: "az-snp-vtpm", tcti: "device:/etc/passwd", vcekFile: "vcek.pem", akHandle: 1 })).toEqual([
      expect.stringContaining("unknown members: akHandle"),
      expect.stringContaining("tee.tcti"),
      expect.stringContaining("tee.vcekFile must be an absolute path"),
    ]);
    expect(problems({ type: "tdx", privlevel: 0 })).toEqual([expect.stringContaining("tee (tdx) has unknown members: privlevel")]);
    expect(problems("sample")).toEqual([expect.stringContaining("tee must be an object")]);
    expect(problems({ type: "tpm" })).toEqual([expect.stringContaining("tee.tcti is required")]);
    expect(problems({ type: "tpm", tcti: "device:/etc/passwd" })).toEqual([expect.stringContaining("tee.tcti")]);
    const many = problems({ type: "tpm", tcti: "swtpm:host=127.0.0.1,port=2321", pcrCount: 30, reportDataLength: 48, akHandle: -1, bogus: 1 });
    expect(many).toHaveLength(4);
    expect(many.join(" ")).toMatch(/unknown members: bogus.*akHandle.*pcrCount.*reportDataLength/);
    expect(problems({ type: "sample", svn: -1, extra: true })).toHaveLength(2);
  });
});

describe("proplet metrics configuration (off unless asked)", () => {
  it("is off by default, loopback when configured, and refuses a bad port, host or weak token", () => {
    expect(resolvePropletConfig(base).metrics).toBeNull();
    expect(resolvePropletConfig({ ...base, metrics: { port: 9464 } }).metrics).toEqual({ host: "127.0.0.1", port: 9464, token: null });
    let err: unknown;
    try {
      resolvePropletConfig({ ...base, metrics: { port: 70000, host: "bad host", token: "short" } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PropletConfigError);
    const list = ((err as PropletConfigError).details?.problems as string[]).join("\n");
    expect(list).toMatch(/metrics\.port must be an integer from 0 to 65535/);
    expect(list).toMatch(/metrics\.host must be a host name/);
    expect(list).toMatch(/metrics\.token must be 16 to 512 characters/);
  });
});
