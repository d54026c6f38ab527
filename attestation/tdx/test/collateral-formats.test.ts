import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { CollateralError } from "../../errors.js";
import { collateralFromFiles } from "../collateral-files.js";
import { signedMember } from "../signed-json.js";
import type { TdxCollateral } from "../collateral.js";
import { verifyTdxQuote } from "../verify-quote.js";
import { TdxVerifier } from "../verifier.js";
import { encodeTdxEvidence } from "../evidence.js";
import { collateralSet, failedNames, QUOTES } from "./tdx-vectors.js";

const PCK_CRL_CHAIN = "intel-roots/pck_platform_crl_issuer_chain.pem";
const bytesOf = (v: string | Uint8Array): Buffer => (typeof v === "string" ? Buffer.from(v, "latin1") : Buffer.from(v));
const textOf = (v: string | Uint8Array): string => bytesOf(v).toString("utf8");

/** The vector's collateral as dcap-qvl writes it: one JSON file, signed texts verbatim, bytes as hex. */
function asDcapQvl(c: TdxCollateral, byteArrays = false): Record<string, unknown> {
  const tcb = signedMember(textOf(c.tcbInfo), "tcbInfo");
  const qe = signedMember(textOf(c.qeIdentity), "enclaveIdentity");
  const enc = (b: Uint8Array) => (byteArrays ? [...b] : Buffer.from(b).toString("hex"));
  return {
    pck_crl_issuer_chain: readVector(PCK_CRL_CHAIN).toString("latin1"),
    ...(c.rootCaCrl ? { root_ca_crl: enc(bytesOf(c.rootCaCrl)) } : {}),
    ...(c.pckCrl ? { pck_crl: enc(bytesOf(c.pckCrl)) } : {}),
    tcb_info_issuer_chain: c.tcbSigningChain,
    tcb_info: tcb.signed,
    tcb_info_signature: enc(Buffer.from(tcb.signatureHex, "hex")),
    qe_identity_issuer_chain: c.tcbSigningChain,
    qe_identity: qe.signed,
    qe_identity_signature: enc(Buffer.from(qe.signatureHex, "hex")),
  };
}

/** The same collateral as Intel PCS response bodies and issuer-chain headers saved one per file. */
function asPcsFiles(c: TdxCollateral, urlEncodedHeaders = false): Record<string, Buffer> {
  const header = (pem: string) => Buffer.from(urlEncodedHeaders ? encodeURIComponent(pem) : pem, "latin1");
  return {
    "tcb_info.json": bytesOf(c.tcbInfo),
    "qe_identity.json": bytesOf(c.qeIdentity),
    "tcb_info_issuer_chain.pem": header(c.tcbSigningChain),
    "pck_crl_issuer_chain.pem": header(readVector(PCK_CRL_CHAIN).toString("latin1")),
    ...(c.pckCrl ? { "pck_crl.der": bytesOf(c.pckCrl) } : {}),
    ...(c.rootCaCrl ? { "root_ca_crl.der": bytesOf(c.rootCaCrl) } : {}),
  };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tdx-collateral-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Write a collateral folder and load it the way the KBS `collateralDir` does. */
async function loadDir(name: string, files: Record<string, Buffer | string>): Promise<TdxCollateral> {
  const d = join(dir, name);
  await rm(d, { recursive: true, force: true });
  await import("node:fs/promises").then((fs) => fs.mkdir(d));
  for (const [f, b] of Object.entries(files)) await writeFile(join(d, f), b);
  const names = await readdir(d);
  return collateralFromFiles(await Promise.all(names.map(async (n) => ({ name: n, bytes: await readFile(join(d, n)) }))));
}

describeWithVectors("TDX collateral in the formats tools emit", () => {
  for (const set of ["trustee-2025", "2023"] as const) {
    const quote = set === "2023" ? QUOTES.q4 : QUOTES.q6;
    it(`${set}: dcap-qvl JSON (hex and byte arrays) and saved PCS files verify exactly as the original`, async () => {
      const { collateral, now } = collateralSet(set);
      const base = (await verifyTdxQuote(readVector(quote), { collateral, now, requireCrls: false })).result;
      const formats: Record<string, Record<string, Buffer | string>> = {
        "dcap-qvl-hex": { "collateral.json": JSON.stringify(asDcapQvl(collateral)) },
        "dcap-qvl-bytes": { "quote_collateral.json": JSON.stringify(asDcapQvl(collateral, true), null, 2) },
        pcs: asPcsFiles(collateral),
        "pcs-urlencoded": asPcsFiles(collateral, true),
      };
      for (const [format, files] of Object.entries(formats)) {
        const loaded = await loadDir(`${set}-${format}`, files);
        expect(loaded.pckCrlIssuerChain, format).toContain("BEGIN CERTIFICATE");
        expect(loaded.tcbSigningChain, format).toContain("BEGIN CERTIFICATE");
        const r = (await verifyTdxQuote(readVector(quote), { collateral: loaded, now, requireCrls: false })).result;
        expect(r.checks.map((c) => [c.name, c.ok]), format).toEqual(base.checks.map((c) => [c.name, c.ok]));
        expect(r.claims.tcb_status, format).toBe(base.claims.tcb_status);
        if (set === "trustee-2025") {
          expect(r.ok, format).toBe(true);
          expect(r.claims.tcb_status).toBe("OutOfDate");
        } else {
          // The 2023 set carries both CRLs: they must have been found and checked, not dropped.
          for (const n of ["tdx.crl.pck.revocation", "tdx.crl.root.signature", "tdx.crl.pck.signature"]) {
            expect(r.checks.find((c) => c.name === n)?.ok, `${format} ${n}`).toBe(true);
          }
          expect(r.claims.tcb_status).toBe("UpToDate");
        }
      }
    });
  }

  it("the TDX verifier takes a dcap-qvl file as its collateral", async () => {
    const { collateral, now } = collateralSet("trustee-2025");
    const loaded = await loadDir("verifier", { "c.json": JSON.stringify(asDcapQvl(collateral)) });
    const v = await new TdxVerifier({ collateral: loaded, requireCrls: false }).verify(encodeTdxEvidence(readVector(QUOTES.q6)), { now });
    expect(failedNames(v.checks)).toEqual([]);
  });

  it("malformed or mislabelled files are refused naming the file and the field", async () => {
    const { collateral } = collateralSet("2023");
    const good = asDcapQvl(collateral);
    const bad = (patch: Record<string, unknown>) => ({ "c.json": JSON.stringify({ ...good, ...patch }) });
    const cases: [Record<string, Buffer | string>, RegExp][] = [
      [bad({ tcb_info_signature: "zz" }), /c\.json: tcb_info_signature is not hex/],
      [bad({ qe_identity_signature: "00ff" }), /c\.json: qe_identity_signature is 2 bytes, not 64/],
      [bad({ tcb_info: "{not json" }), /c\.json: tcb_info is not JSON text/],
      [bad({ tcb_info: good["qe_identity"] }), /c\.json: tcb_info has id "TD_QE", not TDX TCB Info/],
      [bad({ qe_identity: undefined }), /c\.json: qe_identity is missing/],
      [bad({ pck_crl: good["root_ca_crl"] }), /c\.json: pck_crl is issued by .*Intel SGX Root CA.*not the PCK CRL/],
      [bad({ root_ca_crl: "3082" }), /c\.json: root_ca_crl/],
      [bad({ tcb_info_issuer_chain: good["pck_crl_issuer_chain"] }), /c\.json: tcb_info_issuer_chain is a PCK CA chain/],
      [bad({ pck_crl_issuer_chain: good["tcb_info_issuer_chain"] }), /c\.json: pck_crl_issuer_chain is the TCB Signing chain/],
      [bad({ root_ca_crl: [1, 2, 300] }), /c\.json: root_ca_crl is neither a hex string nor an array of bytes/],
    ];
    const pcs = asPcsFiles(collateral);
    // A PCK CRL issuer chain saved under the TCB Info issuer chain's name, and vice versa.
    cases.push([{ ...pcs, "tcb_info_issuer_chain.pem": pcs["pck_crl_issuer_chain.pem"]! }, /tcb_info_issuer_chain\.pem: the name says tcbSigningChain but the content is pckCrlIssuerChain/]);
    cases.push([{ ...pcs, "pck_crl.der": pcs["root_ca_crl.der"]!, "root_ca_crl.der": pcs["pck_crl.der"]! }, /(pck_crl|root_ca_crl)\.der: the name says/]);
    cases.push([{ ...pcs, "qe_identity.json": pcs["tcb_info.json"]! }, /qe_identity\.json: the name says qeIdentity but the content is tcbInfo/]);
    cases.push([{ ...pcs, "tcb_info_issuer_chain.pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, /tcb_info_issuer_chain\.pem: first certificate does not parse/]);
    let i = 0;
    for (const [files, message] of cases) {
      await expect(loadDir(`bad-${i++}`, files), String(message)).rejects.toThrow(message);
      await expect(loadDir(`bad-${i++}`, files)).rejects.toBeInstanceOf(CollateralError);
    }
  });
});
