import { describe, expect, it } from "vitest";
import { describeWithVectors } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { decodeTcb, encodeTcb, parseSnpReport, productFromCpuid, SNP_REPORT_SIZE } from "../report.js";
import { buildFakeReport } from "../testing/fake.js";
import { SNP } from "./vectors.js";

describeWithVectors("parseSnpReport on real reports", () => {
  it("go-sev-guest attestation.bin: v2 Milan, debug policy, TCB 2/0/5/68", () => {
    const r = parseSnpReport(SNP.gsgReport());
    expect(r.version).toBe(2);
    expect(r.measurement.toString("hex")).toBe(
      "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01",
    );
    expect(r.reportData.toString("hex")).toBe("0102030405" + "00".repeat(59));
    expect(r.policy.raw).toBe("00000000000b0000");
    expect(r.policy.debug).toBe(true);
    expect(r.policy.smt).toBe(true);
    expect(r.policy.migrateMa).toBe(false);
    expect(r.reportedTcb).toEqual({ raw: "0200000000000544".match(/../g)!.reverse().join(""), bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    expect(r.vmpl).toBe(0);
    expect(r.chipId.toString("hex").startsWith("3ac3fe21")).toBe(true);
    expect(r.chipId.toString("hex").endsWith("006b5d")).toBe(true);
    expect(r.signerInfo).toEqual({ raw: 0, authorKeyEn: false, maskChipKey: false, signingKey: "vcek" });
    expect(r.cpuid).toBeUndefined();
    expect(r.product).toBeUndefined();
    expect(r.tcbLayout).toBe("milan-genoa");
    expect(r.currentVersion).toEqual({ major: 1, minor: 49, build: 3 });
    expect(r.signature.r.byteLength).toBe(48);
    expect(r.signedBytes.byteLength).toBe(0x2a0);
  });

  it("trustee test-report.bin: ID block fields; REPORTED_TCB differs from CURRENT_TCB", () => {
    const r = parseSnpReport(SNP.trReport());
    expect(r.guestSvn).toBe(4);
    expect(r.familyId.toString("hex")).toMatch(/^01/);
    expect(r.imageId.toString("hex")).toMatch(/^02/);
    expect(r.idKeyDigest.toString("hex").startsWith("0356215882a82527")).toBe(true);
    expect(r.policy.raw).toBe("000000000003001f");
    expect(r.policy.abiMinor).toBe(0x1f);
    expect(r.policy.debug).toBe(false);
    expect(r.reportedTcb).toMatchObject({ bootloader: 3, tee: 0, snp: 8, microcode: 115 });
    expect(r.currentTcb).toMatchObject({ bootloader: 3, tee: 0, snp: 8, microcode: 206 });
    expect(r.reportData.toString("hex")).toBe("ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2" + "00".repeat(32));
    expect(r.currentVersion).toEqual({ major: 1, minor: 52, build: 4 });
  });

  it("trustee test-vlek-report.bin: v3, VLEK signer, CPUID Milan, VMPL 1, chip_id zero", () => {
    const r = parseSnpReport(SNP.vlekReport());
    expect(r.version).toBe(3);
    expect(r.signerInfo.signingKey).toBe("vlek");
    expect(r.signerInfo.raw).toBe(4);
    expect(r.cpuid).toEqual({ family: 0x19, model: 0x01, stepping: 0x01 });
    expect(r.product).toBe("Milan");
    expect(r.vmpl).toBe(1);
    expect(r.reportedTcb).toMatchObject({ bootloader: 4, tee: 0, snp: 24, microcode: 217 });
    expect(r.chipId.every((b) => b === 0)).toBe(true);
    expect(r.platformInfo.raw).toBe("0000000000000027");
    expect(r.platformInfo).toMatchObject({ smtEnabled: true, tsmeEnabled: true, eccEnabled: true, ciphertextHidingEnabled: false, aliasCheckComplete: true });
    expect(r.measurement.toString("hex")).toBe(
      "8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0",
    );
    expect(r.currentVersion).toEqual({ major: 1, minor: 55, build: 29 });
  });
});

describeWithVectors("parseSnpReport refuses malformed reports", () => {
  it("wrong lengths", () => {
    const good = SNP.trReport();
    for (const bad of [good.subarray(0, SNP_REPORT_SIZE - 1), Buffer.concat([good, Buffer.alloc(1)]), Buffer.alloc(0)]) {
      expect(() => parseSnpReport(bad)).toThrow(EvidenceFormatError);
    }
  });

  it("unknown versions", () => {
    for (const v of [0, 1, 6, 0xffffffff]) {
      const b = Buffer.from(SNP.trReport());
      b.writeUInt32LE(v, 0);
      expect(() => parseSnpReport(b)).toThrow(/version/);
    }
  });

  it("unknown signature algorithms", () => {
    for (const alg of [0, 2, 0x100]) {
      const b = Buffer.from(SNP.trReport());
      b.writeUInt32LE(alg, 0x34);
      expect(() => parseSnpReport(b)).toThrow(/signature algorithm/);
    }
  });

  it("policy reserved bits: bit 17 clear, bits 26+ set", () => {
    const b = Buffer.from(SNP.trReport());
    b.writeBigUInt64LE(0x1001fn, 0x08);
    expect(() => parseSnpReport(b)).toThrow(/bit 17/);
    b.writeBigUInt64LE(0x3001fn | (1n << 40n), 0x08);
    expect(() => parseSnpReport(b)).toThrow(/63:26/);
  });

  it("reserved signer info bits and reserved SIGNING_KEY values", () => {
    const b = Buffer.from(SNP.trReport());
    b.writeUInt32LE(1 << 5, 0x48);
    expect(() => parseSnpReport(b)).toThrow(/signer info/);
    b.writeUInt32LE(3 << 2, 0x48);
    expect(() => parseSnpReport(b)).toThrow(/SIGNING_KEY 3/);
  });

  it("non-zero reserved bytes, and signature scalars wider than P-384", () => {
    for (const offset of [0x4c, 0x190, 0x1eb, 0x250, 0x2a0 + 48, 0x2a0 + 144, 0x49f]) {
      const b = Buffer.from(SNP.trReport());
      b[offset] = 1;
      expect(() => parseSnpReport(b), `offset 0x${offset.toString(16)}`).toThrow(EvidenceFormatError);
    }
  });
});

describe("report layouts", () => {
  it("v5 carries mitigation vectors; v3 Turin uses the fmc TCB layout", () => {
    const v5 = buildFakeReport({ version: 5 });
    v5.writeBigUInt64LE(0x3n, 0x1f8);
    v5.writeBigUInt64LE(0x7n, 0x200);
    const r5 = parseSnpReport(v5);
    expect(r5.launchMitVector).toBe("0000000000000003");
    expect(r5.currentMitVector).toBe("0000000000000007");
    // The same bytes in a v3 report are reserved and must be zero.
    v5.writeUInt32LE(3, 0);
    expect(() => parseSnpReport(v5)).toThrow(/reserved/);

    const turin = parseSnpReport(buildFakeReport({ cpuid: { family: 0x1a, model: 0x02, stepping: 0 }, tcb: { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 } }));
    expect(turin.product).toBe("Turin");
    expect(turin.tcbLayout).toBe("turin");
    expect(turin.reportedTcb).toMatchObject({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 });
  });

  it("TCB encodings and the CPUID product table", () => {
    expect(decodeTcb(encodeTcb({ bootloader: 10, tee: 0, snp: 23, microcode: 84 }, "milan-genoa"), "milan-genoa")).toEqual({
      raw: "541700000000000a",
      bootloader: 10,
      tee: 0,
      snp: 23,
      microcode: 84,
    });
    expect(productFromCpuid(0x19, 0x01)).toBe("Milan");
    expect(productFromCpuid(0x19, 0x11)).toBe("Genoa");
    expect(productFromCpuid(0x19, 0xa0)).toBe("Genoa");
    expect(productFromCpuid(0x1a, 0x02)).toBe("Turin");
    expect(productFromCpuid(0x19, 0x30)).toBeUndefined();
    expect(productFromCpuid(0x17, 0x01)).toBeUndefined();
  });
});
