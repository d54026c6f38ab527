import { describe, expect, it } from "vitest";
import { describeWithVectors, readVector } from "../../../testing/vectors.js";
import { CollateralError } from "../../errors.js";
import { CheckList } from "../../result.js";
import { intelSgxRoot, parseCertificate, pemCertificates, trustAnchorFromPem } from "../chain.js";
import { checkCrl, verifyCollateralDocuments, type TdxCollateral } from "../collateral.js";
import { classifyCollateralFiles, collateralFromFiles } from "../collateral-files.js";
import { signedMember, topLevelMembers } from "../signed-json.js";
import { fakeCollateral, fakeCrl, fakePki, fakeQuote, FAKE_EPOCH, PCK_CA_DN } from "../testing/fake-dcap.js";
import { failedNames, TCB_SIGNING_CHAIN } from "./tdx-vectors.js";
import { parseTdxQuote } from "../quote.js";

const TCB_INFOS = ["tdx/go-tdx-guest/sample_tcbInfo_response", "tdx/go-tdx-guest/sample_tcbinfo_response_v5", "tdx/trustee/tcbInfo.json"];
const QE_IDENTITIES = ["tdx/go-tdx-guest/sample_qeIdentity_response", "tdx/trustee/enclaveIdentity.json"];
/** Inside the TCB Signing certificate's validity (2025-05-06 → 2032). */
const T = new Date("2026-02-03T00:00:00Z");

function verifyDocs(collateral: TdxCollateral, now = T, anchorPem?: string) {
  const checks = new CheckList();
  const out = verifyCollateralDocuments(collateral, anchorPem ? trustAnchorFromPem(anchorPem) : intelSgxRoot(), now, checks);
  const byName = (n: string) => checks.checks.find((c) => c.name === n);
  return { checks, out, byName };
}

describeWithVectors("TDX collateral signatures", () => {
  const chain = () => readVector(TCB_SIGNING_CHAIN).toString("latin1");

  for (const tcb of TCB_INFOS) {
    for (const qe of QE_IDENTITIES) {
      it(`${tcb} and ${qe}: signatures valid with the TCB Signing chain to the pinned root`, () => {
        const { byName, out } = verifyDocs({ tcbInfo: readVector(tcb), qeIdentity: readVector(qe), tcbSigningChain: chain() });
        for (const n of [
          "tdx.collateral.tcb_signing.root",
          "tdx.collateral.tcb_signing.signatures",
          "tdx.collateral.tcb_signing.validity",
          "tdx.collateral.tcb_info.signature",
          "tdx.collateral.qe_identity.signature",
          "tdx.collateral.qe_identity.id",
        ]) {
          expect(byName(n)?.ok, n).toBe(true);
        }
        expect(out.tcbInfo?.value.id).toBe("TDX");
        expect(out.qeIdentity?.value.id).toBe("TD_QE");
      });
    }
  }

  it("the signature is over the served bytes: whitespace outside the member keeps it, inside breaks it", () => {
    const body = readVector("tdx/trustee/tcbInfo.json").toString("utf8");
    const qe = readVector("tdx/trustee/enclaveIdentity.json");
    const outside = body.replace('{"tcbInfo":', '{ "tcbInfo" : ').replace(',"signature"', ',\n  "signature"');
    expect(verifyDocs({ tcbInfo: outside, qeIdentity: qe, tcbSigningChain: chain() }).byName("tdx.collateral.tcb_info.signature")?.ok).toBe(true);
    const inside = body.replace('"id":"TDX"', '"id": "TDX"');
    expect(inside).not.toBe(body);
    expect(verifyDocs({ tcbInfo: inside, qeIdentity: qe, tcbSigningChain: chain() }).byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
    // Re-serialised JSON (what a naive verifier would check) has different bytes.
    const reserialised = JSON.stringify(JSON.parse(body), null, 1);
    expect(verifyDocs({ tcbInfo: reserialised, qeIdentity: qe, tcbSigningChain: chain() }).byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
  });

  it("a changed TCB status in the TCB Info fails its signature", () => {
    const body = readVector("tdx/trustee/tcbInfo.json").toString("utf8");
    const forged = body.replace('"tcbStatus":"OutOfDate"', '"tcbStatus":"UpToDate"');
    expect(forged).not.toBe(body);
    const { byName } = verifyDocs({ tcbInfo: forged, qeIdentity: readVector("tdx/trustee/enclaveIdentity.json"), tcbSigningChain: chain() });
    expect(byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
    expect(byName("tdx.collateral.qe_identity.signature")?.ok).toBe(true);
  });

  it("a duplicated tcbInfo member is rejected, not silently last-wins", () => {
    const body = readVector("tdx/trustee/tcbInfo.json").toString("utf8");
    const dup = body.replace('{"tcbInfo":', '{"tcbInfo":{"id":"TDX"},"tcbInfo":');
    expect(() => topLevelMembers(dup)).toThrow(CollateralError);
    const { byName } = verifyDocs({ tcbInfo: dup, qeIdentity: readVector("tdx/trustee/enclaveIdentity.json"), tcbSigningChain: chain() });
    expect(byName("tdx.collateral.tcb_info.signature")?.detail).toMatch(/duplicate/);
  });

  it("validity windows: issueDate/nextUpdate at the injected clock", () => {
    const c = { tcbInfo: readVector("tdx/trustee/tcbInfo.json"), qeIdentity: readVector("tdx/trustee/enclaveIdentity.json"), tcbSigningChain: chain() };
    expect(failedNames(verifyDocs(c, new Date("2025-11-01T00:00:00Z")).checks.checks)).toEqual([]);
    // 2025-10-27 13:07 issue (tcbInfo) and 2025-10-28 06:45 (QE identity): before both.
    expect(failedNames(verifyDocs(c, new Date("2025-10-27T00:00:00Z")).checks.checks).sort()).toEqual([
      "tdx.collateral.qe_identity.validity",
      "tdx.collateral.tcb_info.validity",
    ]);
    // After both nextUpdates (2025-11-26, 2025-11-27): expired.
    expect(failedNames(verifyDocs(c, new Date("2025-12-01T00:00:00Z")).checks.checks).sort()).toEqual([
      "tdx.collateral.qe_identity.validity",
      "tdx.collateral.tcb_info.validity",
    ]);
    // The TCB Signing certificate starts 2025-05-06: the 2023 documents still verify, but its validity fails then.
    const old = verifyDocs(
      { tcbInfo: readVector(TCB_INFOS[0]!), qeIdentity: readVector(QE_IDENTITIES[0]!), tcbSigningChain: chain() },
      new Date("2023-07-01T00:00:00Z"),
    );
    expect(failedNames(old.checks.checks)).toEqual(["tdx.collateral.tcb_signing.validity"]);
  });

  it("a TCB Signing chain that does not end in the pinned root signs nothing", async () => {
    const pki = await fakePki();
    const { byName } = verifyDocs(
      { tcbInfo: readVector(TCB_INFOS[2]!), qeIdentity: readVector(QE_IDENTITIES[1]!), tcbSigningChain: pki.tcbSigningChainPem },
    );
    expect(byName("tdx.collateral.tcb_signing.root")?.ok).toBe(false);
    expect(byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
    // And Intel's chain under a foreign pinned root fails the same way.
    const foreign = verifyDocs({ tcbInfo: readVector(TCB_INFOS[2]!), qeIdentity: readVector(QE_IDENTITIES[1]!), tcbSigningChain: chain() }, T, pki.rootPem);
    expect(foreign.byName("tdx.collateral.tcb_signing.root")?.ok).toBe(false);
    expect(foreign.byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
  });

  it("only a TCB Signing certificate issued directly by the root may sign: a PCK chain or the root alone may not", () => {
    const pckChain = parseTdxQuote(readVector("tdx/trustee/tdx_quote_6.dat")).certification.pckChainPem;
    const docs = { tcbInfo: readVector(TCB_INFOS[2]!), qeIdentity: readVector(QE_IDENTITIES[1]!) };
    const asPck = verifyDocs({ ...docs, tcbSigningChain: pckChain });
    expect(asPck.byName("tdx.collateral.tcb_signing.signatures")?.detail).toMatch(/3 certificates up to the root, expected 2/);
    expect(asPck.byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
    const rootOnly = verifyDocs({ ...docs, tcbSigningChain: readVector("intel-roots/go-tdx-guest/trusted_root.pem").toString("latin1") });
    expect(rootOnly.byName("tdx.collateral.tcb_signing.signatures")?.detail).toMatch(/is a CA certificate/);
    expect(rootOnly.byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
  });

  it("a document signed by another key fails its signature", async () => {
    const pki = await fakePki();
    const fake = await fakeCollateral(pki);
    const { byName } = verifyDocs({ tcbInfo: fake.tcbInfo, qeIdentity: fake.qeIdentity, tcbSigningChain: chain() });
    expect(byName("tdx.collateral.tcb_info.signature")?.ok).toBe(false);
    expect(byName("tdx.collateral.qe_identity.signature")?.ok).toBe(false);
  });
});

describeWithVectors("Intel CRLs", () => {
  const pckCa = () => {
    const ders = pemCertificates(readVector("intel-roots/pck_platform_crl_issuer_chain.pem").toString("latin1"), "chain");
    return parseCertificate(ders[0]!, "PCK Platform CA");
  };
  const spr = () => parseTdxQuote(readVector("tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat"));
  const leafOf = (q: ReturnType<typeof spr>) => parseCertificate(pemCertificates(q.certification.pckChainPem, "pck")[0]!, "leaf");
  const at = new Date("2023-07-01T00:00:00Z");

  it("PCK CRL: signed by the PCK Platform CA, current in 2023, the SPR PCK not revoked", async () => {
    const checks = new CheckList();
    await checkCrl(readVector("tdx/go-tdx-guest/pckcrl"), pckCa(), [leafOf(spr())], at, checks, "tdx.crl.pck");
    expect(failedNames(checks.checks)).toEqual([]);
  });

  it("root CA CRL: signed by the pinned root, current in 2023", async () => {
    const checks = new CheckList();
    await checkCrl(readVector("tdx/go-tdx-guest/rootcrl.der"), intelSgxRoot().cert, [pckCa()], at, checks, "tdx.crl.root");
    expect(failedNames(checks.checks)).toEqual([]);
  });

  it("expired CRLs fail validity; a CRL checked against the wrong issuer fails its signature", async () => {
    const checks = new CheckList();
    await checkCrl(readVector("tdx/go-tdx-guest/pckcrl"), pckCa(), [leafOf(spr())], new Date("2025-11-01T00:00:00Z"), checks, "tdx.crl.pck");
    expect(failedNames(checks.checks)).toEqual(["tdx.crl.pck.validity"]);
    const wrong = new CheckList();
    await checkCrl(readVector("tdx/go-tdx-guest/pckcrl"), intelSgxRoot().cert, [], at, wrong, "tdx.crl.pck");
    expect(failedNames(wrong.checks)).toEqual(["tdx.crl.pck.signature", "tdx.crl.pck.revocation"]);
  });

  it("a missing CRL is a failed check; garbage is a failed check, not a crash", async () => {
    const checks = new CheckList();
    await checkCrl(undefined, pckCa(), [], at, checks, "tdx.crl.pck");
    await checkCrl(Buffer.from("not a crl"), pckCa(), [], at, checks, "tdx.crl.root");
    expect(failedNames(checks.checks)).toEqual(["tdx.crl.pck.signature", "tdx.crl.root.signature"]);
  });
});

describe("revocation (fake PKI)", () => {
  it("a PCK serial on the PCK CRL fails tdx.crl.pck.revocation; another serial passes", async () => {
    const pki = await fakePki();
    const quote = await fakeQuote(pki, { pckSerial: "7e57" });
    const leaf = parseCertificate(Buffer.from(quote.pckLeaf.rawData), "leaf");
    const pckCa = parseCertificate(Buffer.from(pki.pckCa.rawData), "ca");
    const revoked = new CheckList();
    await checkCrl(await fakeCrl(PCK_CA_DN, pki.pckCaKeys, ["01", "7e57"]), pckCa, [leaf], FAKE_EPOCH, revoked, "tdx.crl.pck");
    expect(failedNames(revoked.checks)).toEqual(["tdx.crl.pck.revocation"]);
    expect(revoked.checks.find((c) => c.name === "tdx.crl.pck.revocation")?.detail).toMatch(/7E57/i);
    const clean = new CheckList();
    await checkCrl(await fakeCrl(PCK_CA_DN, pki.pckCaKeys, ["01"]), pckCa, [leaf], FAKE_EPOCH, clean, "tdx.crl.pck");
    expect(failedNames(clean.checks)).toEqual([]);
    // A CRL with the right name but signed by another key (the root's) is not trusted.
    const forged = new CheckList();
    await checkCrl(await fakeCrl(PCK_CA_DN, pki.rootKeys, []), pckCa, [leaf], FAKE_EPOCH, forged, "tdx.crl.pck");
    expect(failedNames(forged.checks)).toEqual(["tdx.crl.pck.signature", "tdx.crl.pck.revocation"]);
  });
});

describe("signed JSON member extraction", () => {
  it("returns the exact member text, with nested strings containing braces", () => {
    const body = `{"a":1, "tcbInfo" : {"x":"}{\\"","y":[1,{"z":2}]} ,"signature":"${"ab".repeat(64)}"}`;
    const { signed, signatureHex } = signedMember(body, "tcbInfo");
    expect(signed).toBe(`{"x":"}{\\"","y":[1,{"z":2}]}`);
    expect(signatureHex).toBe("ab".repeat(64));
    expect(() => signedMember(`{"tcbInfo":{}}`, "tcbInfo")).toThrow(/signature/);
    expect(() => signedMember(`{"tcbInfo":{},"signature":"00"}`, "tcbInfo")).toThrow(/64 bytes/);
    expect(() => signedMember(`{"tcbInfo":{`, "tcbInfo")).toThrow(CollateralError);
  });
});

describeWithVectors("collateral files for the CLI", () => {
  it("classifies TCB Info, QE identity, the signing chain and both CRLs in any order", () => {
    const files = [
      "tdx/go-tdx-guest/rootcrl.der",
      "tdx/go-tdx-guest/sample_qeIdentity_response",
      TCB_SIGNING_CHAIN,
      "tdx/go-tdx-guest/pckcrl",
      "tdx/go-tdx-guest/sample_tcbInfo_response",
    ].map((name) => ({ name, bytes: readVector(name) }));
    const c = collateralFromFiles(files);
    expect(c.rootCaCrl).toEqual(readVector("tdx/go-tdx-guest/rootcrl.der"));
    expect(c.pckCrl).toEqual(readVector("tdx/go-tdx-guest/pckcrl"));
    expect(c.tcbInfo).toEqual(readVector("tdx/go-tdx-guest/sample_tcbInfo_response"));
    expect(c.qeIdentity).toEqual(readVector("tdx/go-tdx-guest/sample_qeIdentity_response"));
    expect(c.tcbSigningChain).toContain("BEGIN CERTIFICATE");
    expect(() => classifyCollateralFiles([files[1]!, files[1]!])).toThrow(/two collateral files/);
    expect(() => collateralFromFiles([files[0]!])).toThrow(/missing: tcbInfo, qeIdentity, tcbSigningChain/);
  });
});
