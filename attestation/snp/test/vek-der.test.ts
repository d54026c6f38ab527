// The VEK's AMD extensions are DER read strictly: one element, definite length, no trailing bytes,
// the expected universal type. Synthetic certificates (the fake AMD) reach each malformed case.
import { beforeAll, describe, expect, it } from "vitest";
import { EvidenceFormatError } from "../../errors.js";
import { AMD_OID, parseVek } from "../certs.js";
import { createFakeAmd, type FakeAmd } from "../testing/fake.js";

const hex = (h: string) => Buffer.from(h, "hex");

describe("VEK extension DER", () => {
  let amd: FakeAmd;
  beforeAll(async () => {
    amd = await createFakeAmd("Milan");
  });
  const vekWith = async (values: Record<string, Buffer>) => (await amd.issueVek({ extensionValues: values })).der;

  it("reads SPLs in short and padded INTEGER form, and any primitive string as productName", async () => {
    const v = parseVek(await vekWith({ [AMD_OID.blSpl]: hex("020200d9"), [AMD_OID.productName]: hex("0c0547656e6f61") }));
    expect(v.spls.bootloader).toBe(217);
    expect(v.productName).toBe("Genoa");
  });

  it("refuses trailing bytes, indefinite lengths, truncation and the wrong type", async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      [AMD_OID.blSpl, hex("02010300"), /blSPL: not DER/],
      [AMD_OID.blSpl, hex("028003000000"), /blSPL: not DER/],
      [AMD_OID.teeSpl, hex("02"), /teeSPL: not DER/],
      [AMD_OID.snpSpl, hex("040108"), /snpSPL: not an INTEGER/],
      [AMD_OID.ucodeSpl, hex("02020100"), /ucodeSPL: 256 is not an SPL/],
      [AMD_OID.ucodeSpl, hex("020180"), /is not an SPL/],
      [AMD_OID.productName, hex("3000"), /productName extension: not a string/],
      [AMD_OID.hwId, hex("2400"), /hwID extension: neither 64 raw bytes nor an OCTET STRING/],
      [AMD_OID.hwId, hex("0403010203"), /hwID is 3 bytes/],
    ];
    for (const [oid, value, message] of cases) {
      const der = await vekWith({ [oid]: value });
      expect(() => parseVek(der), value.toString("hex")).toThrow(EvidenceFormatError);
      expect(() => parseVek(der), value.toString("hex")).toThrow(message);
    }
  });
});
