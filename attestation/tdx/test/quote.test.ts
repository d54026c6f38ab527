import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { EvidenceFormatError } from "../../errors.js";
import { decodeTdAttributes, parseTdxQuote } from "../quote.js";
import { claimsOf } from "../verify-quote.js";
import { QUOTES } from "./tdx-vectors.js";


const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");

function expectFormatErrorOrParse(bytes: Uint8Array): void {
  try {
    parseTdxQuote(bytes);
  } catch (e) {
    if (!(e instanceof EvidenceFormatError)) throw new Error(`non-EvidenceFormatError thrown: ${String(e)}`);
  }
}

describeWithVectors("TDX quote parser", () => {
  it("parses trustee's tdx_quote_4 to the golden values of parse_tdx_claims_expected.json", () => {
    const golden = JSON.parse(readVector("tdx/trustee/parse_tdx_claims_expected.json").toString()) as {
      quote: { header: Record<string, string>; body: Record<string, string> };
      td_attributes: Record<string, boolean>;
    };
    const q = parseTdxQuote(readVector(QUOTES.q4));
    const h = golden.quote.header;
    expect(Buffer.from([q.header.version & 0xff, q.header.version >> 8]).toString("hex")).toBe(h["version"]);
    expect(Buffer.from([q.header.attKeyType & 0xff, q.header.attKeyType >> 8]).toString("hex")).toBe(h["att_key_type"]);
    const tee = Buffer.alloc(4);
    tee.writeUInt32LE(q.header.teeType);
    expect(tee.toString("hex")).toBe(h["tee_type"]);
    expect(hex(q.header.reserved)).toBe(h["reserved"]);
    expect(hex(q.header.qeVendorId)).toBe(h["vendor_id"]);
    expect(hex(q.header.userData)).toBe(h["user_data"]);
    const b = golden.quote.body;
    expect({
      mr_config_id: hex(q.body.mrConfigId),
      mr_owner: hex(q.body.mrOwner),
      mr_owner_config: hex(q.body.mrOwnerConfig),
      mr_seam: hex(q.body.mrSeam),
      mr_td: hex(q.body.mrTd),
      mrsigner_seam: hex(q.body.mrSignerSeam),
      report_data: hex(q.body.reportData),
      rtmr_0: hex(q.body.rtmrs[0]),
      rtmr_1: hex(q.body.rtmrs[1]),
      rtmr_2: hex(q.body.rtmrs[2]),
      rtmr_3: hex(q.body.rtmrs[3]),
      seam_attributes: hex(q.body.seamAttributes),
      tcb_svn: hex(q.body.teeTcbSvn),
      td_attributes: hex(q.body.tdAttributes),
      xfam: hex(q.body.xfam),
    }).toEqual(b);
    const attrs = decodeTdAttributes(q.body.tdAttributes);
    expect({
      debug: attrs.debug,
      key_locker: attrs.keyLocker,
      perfmon: attrs.perfmon,
      protection_keys: attrs.pks,
      septve_disable: attrs.septVeDisable,
    }).toEqual(golden.td_attributes);
  });

  it("reads the README's documented fields of every quote", () => {
    const spr = claimsOf(parseTdxQuote(readVector(QUOTES.spr)));
    expect(spr.mrtd).toBe("6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb");
    expect(spr.tee_tcb_svn.startsWith("03000400")).toBe(true);
    expect(spr.td_attributes).toMatchObject({ hex: "0000004000000000", pks: true, debug: false });
    expect(spr.report_data.startsWith("6c62dec1")).toBe(true);
    expect(spr.report_data.endsWith("281f1113")).toBe(true);
    expect(spr.rtmr0.startsWith("2927da70")).toBe(true);
    expect(spr.qe_isvsvn).toBe(4);

    const v5 = parseTdxQuote(readVector(QUOTES.v5));
    expect(v5.header.version).toBe(5);
    expect(v5.bodyType).toBe(3);
    expect(v5.signedRegion.byteLength).toBe(702);
    const c5 = claimsOf(v5);
    expect(c5.body_type).toBe("TD1.5");
    expect(c5.mrtd).toBe("7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876");
    expect(c5.tee_tcb_svn.startsWith("0b0104")).toBe(true);
    expect(c5.tee_tcb_svn2?.startsWith("0d0104")).toBe(true);
    expect(c5.mrservicetd).toBe("00".repeat(48));
    expect(c5.qe_isvsvn).toBe(7);

    const cos = claimsOf(parseTdxQuote(readVector(QUOTES.cos)));
    expect(cos.mrtd).toBe("dae67181d3d65e073ad8f95b7907d5e927bfe9761c9ff3e9b89734a45d8954dba41394c7717cb2735396c1d04231f94a");
    expect(cos.report_data).toBe("00".repeat(64));

    const q5 = claimsOf(parseTdxQuote(readVector(QUOTES.q5)));
    expect(q5.mrtd).toBe("dfba221b48a22af8511542ee796603f37382800840dcd978703909bf8e64d4c8a1e9de86e7c9638bfcba422f3886400a");
    expect(q5.mrservicetd?.startsWith("383c87d3")).toBe(true);
    expect(q5.mrservicetd?.endsWith("7a5a033d")).toBe(true);

    const q6 = claimsOf(parseTdxQuote(readVector(QUOTES.q6)));
    expect(q6.mrtd).toBe("21e8dead92d6c69d7cbba79816686c03a48485c7df0c11f6f04792d5e1d378f6b8c46615ba6946adccac6becffbb1e88");
    expect(q6.mrconfigid.startsWith("889abf47")).toBe(true);
    expect(q6.report_data.endsWith("00".repeat(16))).toBe(true);
    expect(q6.rtmr2).not.toBe("00".repeat(48));
  });

  it("stops at the signature-data length: trailing text and zero padding are ignored", () => {
    const spr = readVector(QUOTES.spr);
    const q = parseTdxQuote(spr);
    expect(q.quoteLength).toBe(spr.byteLength - 39);
    expect(spr.subarray(q.quoteLength).toString("latin1")).toContain("extra bytes");
    const cos = readVector(QUOTES.cos);
    const qc = parseTdxQuote(cos);
    expect(cos.byteLength).toBe(8000);
    expect(cos.subarray(qc.quoteLength).every((b) => b === 0)).toBe(true);
    // The same quote without its trailer parses identically.
    expect(parseTdxQuote(spr.subarray(0, q.quoteLength)).signature).toEqual(q.signature);
  });

  it("PCK chain is the PEM text of three certificates", () => {
    for (const f of Object.values(QUOTES)) {
      const q = parseTdxQuote(readVector(f));
      expect(q.certification.certDataType).toBe(5);
      expect(q.certification.pckChainPem.match(/BEGIN CERTIFICATE/g)?.length).toBe(3);
    }
  });

  it("every truncation of a v4 and a v5 quote throws EvidenceFormatError, and nothing else", () => {
    for (const f of [QUOTES.q4, QUOTES.v5]) {
      const bytes = readVector(f);
      const full = parseTdxQuote(bytes).quoteLength;
      for (let n = 0; n < full; n++) {
        expect(() => parseTdxQuote(bytes.subarray(0, n)), `${f} truncated to ${n}`).toThrow(EvidenceFormatError);
      }
    }
  });

  it("random corruption of length and type fields never throws anything but EvidenceFormatError", () => {
    const bytes = readVector(QUOTES.q6);
    // Offsets of every length/type field: header, v4 sig_len, cert data type/size, auth size, PCK type/size.
    const q = parseTdxQuote(bytes);
    const sigLenAt = q.signedRegion.byteLength;
    const certAt = sigLenAt + 4 + 128;
    const authAt = certAt + 6 + 384 + 64;
    const pckAt = authAt + 2 + q.certification.qeAuthData.byteLength;
    const fields = [0, 2, 4, sigLenAt, sigLenAt + 2, certAt, certAt + 2, certAt + 4, authAt, authAt + 1, pckAt, pckAt + 2, pckAt + 4];
    for (let i = 0; i < 2000; i++) {
      const copy = Buffer.from(bytes);
      const at = fields[i % fields.length]!;
      copy[at] = randomBytes(1)[0]!;
      if (i % 3 === 0) copy[at + 1] = randomBytes(1)[0]!;
      const cut = i % 5 === 0 ? copy.subarray(0, 1 + (randomBytes(2).readUInt16LE() % copy.byteLength)) : copy;
      expectFormatErrorOrParse(cut);
    }
    for (let i = 0; i < 200; i++) expectFormatErrorOrParse(randomBytes(i * 37));
  });

  it("rejects a wrong TEE type, version, key type and v5 body type/size", () => {
    const v4 = readVector(QUOTES.q4);
    const mutate = (at: number, value: number[], base: Buffer = v4) => {
      const c = Buffer.from(base);
      Buffer.from(value).copy(c, at);
      return c;
    };
    expect(() => parseTdxQuote(mutate(4, [0, 0, 0, 0]))).toThrow(/not TDX/);
    expect(() => parseTdxQuote(mutate(0, [3, 0]))).toThrow(/version 3/);
    expect(() => parseTdxQuote(mutate(2, [3, 0]))).toThrow(/key type 3/);
    const v5 = readVector(QUOTES.v5);
    expect(() => parseTdxQuote(mutate(48, [1, 0], v5))).toThrow(/body type 1/);
    expect(() => parseTdxQuote(mutate(48, [2, 0], v5))).toThrow(/body size 648/);
    expect(() => parseTdxQuote(Buffer.alloc(70 * 1024))).toThrow(EvidenceFormatError);
  });
});

it("the shipped Intel root equals the PEM file beside it", async () => {
  const { INTEL_SGX_ROOT_CA_PEM, INTEL_SGX_ROOT_CA_SHA256 } = await import("../../roots/intel/index.js");
  const file = readFileSync(new URL("../../roots/intel/intel-sgx-root-ca.pem", import.meta.url), "latin1");
  expect(INTEL_SGX_ROOT_CA_PEM.trim()).toBe(file.trim());
  const { intelSgxRoot } = await import("../chain.js");
  expect(intelSgxRoot().fingerprint).toBe(INTEL_SGX_ROOT_CA_SHA256);
  expect(intelSgxRoot().cert.subject).toContain("Intel SGX Root CA");
});
