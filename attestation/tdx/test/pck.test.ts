import { describe, expect, it } from "vitest";
import { EvidenceFormatError } from "../../errors.js";
import { parsePckExtensions } from "../pck.js";

describe("the PCK certificate's SGX extension parser", () => {
  it("refuses DER that asn1js throws on (a UniversalString of 3 bytes) with EvidenceFormatError", () => {
    // Found by the byte-flip test on a real quote: one flipped bit in the PCK leaf turned a string
    // tag into UniversalString, and asn1js threw a RangeError instead of reporting bad DER.
    const der = Uint8Array.from([0x30, 0x05, 0x1c, 0x03, 0x41, 0x42, 0x43]);
    expect(() => parsePckExtensions(der)).toThrow(EvidenceFormatError);
    expect(() => parsePckExtensions(der)).toThrow(/SGX extension: not DER/);
  });

  it("refuses trailing bytes and a non-sequence", () => {
    expect(() => parsePckExtensions(Uint8Array.from([0x30, 0x00, 0x00]))).toThrow(EvidenceFormatError);
    expect(() => parsePckExtensions(Uint8Array.from([0x04, 0x00]))).toThrow(/not a SEQUENCE/);
  });
});
