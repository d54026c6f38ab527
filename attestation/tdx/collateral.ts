import { verify as cryptoVerify, type X509Certificate as NodeCertificate } from "node:crypto";
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { CollateralError, EvidenceFormatError } from "../errors.js";
import type { CheckList } from "../result.js";
import { BoundedCache, pemCertificates, sha256Hex, verifyChain, type ChainEntry, type TrustAnchor } from "./chain.js";
import { signedMember } from "./signed-json.js";
import { X509Certificate as PeculiarCertificate, X509Crl } from "./x509.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Intel PCS collateral for TDX: TCB Info (v3, id "TDX"), QE Identity (id "TD_QE"), the TCB Signing
 * chain that signs both, and the CRLs. Each is verified here (signature, chain, validity window);
 * what the contents mean for a given quote is tcb.ts.
 */

/** What the caller supplies. Strings are the bodies exactly as Intel PCS (or a PCCS) served them. */
export interface TdxCollateral {
  /** `{"tcbInfo":{…},"signature":"…"}` from /tdx/certification/v4/tcb. */
  tcbInfo: string | Uint8Array;
  /** `{"enclaveIdentity":{…},"signature":"…"}` from /tdx/certification/v4/qe/identity. */
  qeIdentity: string | Uint8Array;
  /** PEM chain from the TCB-Info-Issuer-Chain header: TCB Signing cert, then (optionally) the root. */
  tcbSigningChain: string;
  /** PCK CRL (DER or PEM) of the CA that issued the PCK leaf. */
  pckCrl?: Uint8Array | string;
  /** Intel SGX Root CA CRL (DER or PEM). */
  rootCaCrl?: Uint8Array | string;
  /**
   * PEM chain from the SGX-PCK-CRL-Issuer-Chain header (PCK CA, then root). Accepted so saved PCS
   * files and dcap-qvl collateral load whole; not used, because the PCK CRL is checked against the
   * PCK CA certificate carried in the quote, which is what must have issued it.
   */
  pckCrlIssuerChain?: string;
}

/** Largest collateral document accepted: real TCB Info bodies are ~10 KiB. */
export const MAX_COLLATERAL_SIZE = 1024 * 1024;

const Hex = (bytes: number) => Type.String({ pattern: `^[0-9a-fA-F]{${bytes * 2}}$` });
const Status = Type.String({ maxLength: 64 });
const Advisories = Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 256 }));
const Component = Type.Object({ svn: Type.Integer({ minimum: 0, maximum: 255 }) });
const Components = Type.Array(Component, { minItems: 16, maxItems: 16 });

const TcbLevelSchema = Type.Object({
  tcb: Type.Object({
    sgxtcbcomponents: Components,
    pcesvn: Type.Integer({ minimum: 0, maximum: 0xffff }),
    tdxtcbcomponents: Components,
  }),
  tcbDate: Type.String(),
  tcbStatus: Status,
  advisoryIDs: Advisories,
});

const IsvLevelSchema = Type.Object({
  tcb: Type.Object({ isvsvn: Type.Integer({ minimum: 0, maximum: 0xffff }) }),
  tcbDate: Type.String(),
  tcbStatus: Status,
  advisoryIDs: Advisories,
});

const ModuleSchema = Type.Object({ mrsigner: Hex(48), attributes: Hex(8), attributesMask: Hex(8) });

export const TcbInfoSchema = Type.Object({
  id: Type.Literal("TDX"),
  version: Type.Integer({ minimum: 3 }),
  issueDate: Type.String(),
  nextUpdate: Type.String(),
  fmspc: Hex(6),
  pceId: Hex(2),
  tcbType: Type.Integer(),
  tcbEvaluationDataNumber: Type.Integer({ minimum: 0 }),
  tdxModule: ModuleSchema,
  tdxModuleIdentities: Type.Optional(
    Type.Array(
      Type.Object({
        id: Type.String({ maxLength: 32 }),
        mrsigner: Hex(48),
        attributes: Hex(8),
        attributesMask: Hex(8),
        tcbLevels: Type.Array(IsvLevelSchema, { minItems: 1, maxItems: 256 }),
      }),
      { maxItems: 64 },
    ),
  ),
  tcbLevels: Type.Array(TcbLevelSchema, { minItems: 1, maxItems: 256 }),
});
export type TcbInfo = Static<typeof TcbInfoSchema>;
export type TcbLevel = TcbInfo["tcbLevels"][number];
export type IsvTcbLevel = Static<typeof IsvLevelSchema>;

export const QeIdentitySchema = Type.Object({
  id: Type.String({ maxLength: 32 }),
  version: Type.Integer(),
  issueDate: Type.String(),
  nextUpdate: Type.String(),
  tcbEvaluationDataNumber: Type.Integer({ minimum: 0 }),
  miscselect: Hex(4),
  miscselectMask: Hex(4),
  attributes: Hex(16),
  attributesMask: Hex(16),
  mrsigner: Hex(32),
  isvprodid: Type.Integer({ minimum: 0, maximum: 0xffff }),
  tcbLevels: Type.Array(IsvLevelSchema, { minItems: 1, maxItems: 256 }),
});
export type QeIdentity = Static<typeof QeIdentitySchema>;

const tcbInfoCheck = TypeCompiler.Compile(TcbInfoSchema);
const qeIdentityCheck = TypeCompiler.Compile(QeIdentitySchema);

function text(input: string | Uint8Array, what: string): string {
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > MAX_COLLATERAL_SIZE) throw new CollateralError(`${what} is over ${MAX_COLLATERAL_SIZE} bytes`);
  if (typeof input === "string") return input;
  try {
    // Fatal decoding: the signature is over the served bytes, so a lossy decode must not be verified.
    return new TextDecoder("utf-8", { fatal: true }).decode(input);
  } catch {
    throw new CollateralError(`${what} is not UTF-8 text`);
  }
}

function parseDate(value: string, what: string): Date {
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CollateralError(`${what} "${value}" is not a date`);
  return d;
}

export interface SignedDocument<T> {
  value: T;
  issueDate: Date;
  nextUpdate: Date;
}

interface DocEntry {
  signatureOk: boolean;
  signatureDetail: string;
  /** Parsed and schema-checked value, or why not. */
  value?: unknown;
  formatError?: string;
  issueDate?: Date;
  nextUpdate?: Date;
}

/**
 * Verified collateral documents by SHA-256 of (member, body, signer): the same TCB Info serves
 * every quote of a platform family for a month. Validity is re-checked on every call.
 */
export const collateralDocumentCache = new BoundedCache<DocEntry>(256);

/** Verify the signature of one signed JSON member with the already verified TCB Signing key. */
function verifySignedJson<T>(
  body: string | Uint8Array,
  member: "tcbInfo" | "enclaveIdentity",
  schema: { Check(v: unknown): boolean; Errors(v: unknown): Iterable<{ path: string; message: string }> },
  signer: NodeCertificate | undefined,
  now: Date,
  checks: CheckList,
  prefix: string,
): SignedDocument<T> | undefined {
  let bodyText: string;
  try {
    bodyText = text(body, prefix);
  } catch (e) {
    if (!(e instanceof CollateralError)) throw e;
    checks.fail(`${prefix}.signature`, e.message);
    return undefined;
  }
  const key = sha256Hex(`${member}\n${signer ? sha256Hex(signer.raw) : "-"}\n${bodyText}`);
  let entry = collateralDocumentCache.get(key);
  if (!entry) {
    entry = verifySignedJsonUncached(bodyText, member, schema, signer);
    collateralDocumentCache.set(key, entry);
  }
  checks.add(`${prefix}.signature`, entry.signatureOk, entry.signatureDetail);
  if (entry.formatError !== undefined || entry.issueDate === undefined || entry.nextUpdate === undefined) {
    if (entry.formatError !== undefined) checks.fail(`${prefix}.format`, entry.formatError);
    return undefined;
  }
  const { issueDate, nextUpdate } = entry;
  const fresh = now >= issueDate && now <= nextUpdate;
  checks.add(
    `${prefix}.validity`,
    fresh,
    `${member} issued ${issueDate.toISOString()}, next update ${nextUpdate.toISOString()}${fresh ? "" : `: not valid at ${now.toISOString()}`}`,
  );
  return { value: entry.value as T, issueDate, nextUpdate };
}

function verifySignedJsonUncached(
  bodyText: string,
  member: "tcbInfo" | "enclaveIdentity",
  schema: { Check(v: unknown): boolean; Errors(v: unknown): Iterable<{ path: string; message: string }> },
  signer: NodeCertificate | undefined,
): DocEntry {
  let signed: string;
  let signatureHex: string;
  try {
    ({ signed, signatureHex } = signedMember(bodyText, member));
  } catch (e) {
    if (!(e instanceof CollateralError)) throw e;
    return { signatureOk: false, signatureDetail: e.message };
  }
  let signatureOk = false;
  let signatureDetail = "no verified TCB Signing certificate to check it with";
  if (signer) {
    try {
      signatureOk = cryptoVerify("sha256", Buffer.from(signed, "utf8"), { key: signer.publicKey, dsaEncoding: "ieee-p1363" }, Buffer.from(signatureHex, "hex"));
    } catch {
      signatureOk = false;
    }
    signatureDetail = signatureOk ? `signed by the TCB Signing key (${signed.length} bytes)` : `${member} signature is invalid`;
  }
  const value = JSON.parse(signed) as unknown;
  if (!schema.Check(value)) {
    const first = [...schema.Errors(value)][0];
    return { signatureOk, signatureDetail, formatError: `${member} does not match its schema${first ? `: ${first.path} ${first.message}` : ""}` };
  }
  const v = value as { issueDate: string; nextUpdate: string };
  try {
    return { signatureOk, signatureDetail, value, issueDate: parseDate(v.issueDate, `${member}.issueDate`), nextUpdate: parseDate(v.nextUpdate, `${member}.nextUpdate`) };
  } catch (e) {
    return { signatureOk, signatureDetail, formatError: messageOf(e) };
  }
}

export interface VerifiedCollateral {
  tcbInfo?: SignedDocument<TcbInfo>;
  qeIdentity?: SignedDocument<QeIdentity>;
  /** The TCB Signing certificate (verified chain, leaf first). */
  tcbSigningChain?: NodeCertificate[];
}

export function verifyCollateralDocuments(
  collateral: TdxCollateral,
  anchor: TrustAnchor,
  now: Date,
  checks: CheckList,
  cache?: BoundedCache<ChainEntry>,
): VerifiedCollateral {
  const out: VerifiedCollateral = {};
  let signer: NodeCertificate | undefined;
  try {
    const chain = verifyChain(pemCertificates(collateral.tcbSigningChain, "TCB Signing chain"), anchor, now, checks, "tdx.collateral.tcb_signing", 2, cache);
    out.tcbSigningChain = chain.certs;
    // A wrong signature or a wrong root disqualifies the key; an expired certificate is reported by
    // its own check and still lets the documents' signatures be checked, for diagnosis.
    if (chain.signaturesOk) signer = chain.certs[0];
  } catch (e) {
    if (!(e instanceof EvidenceFormatError)) throw e;
    checks.fail("tdx.collateral.tcb_signing.signatures", e.message);
  }
  out.tcbInfo = verifySignedJson<TcbInfo>(collateral.tcbInfo, "tcbInfo", tcbInfoCheck, signer, now, checks, "tdx.collateral.tcb_info");
  out.qeIdentity = verifySignedJson<QeIdentity>(collateral.qeIdentity, "enclaveIdentity", qeIdentityCheck, signer, now, checks, "tdx.collateral.qe_identity");
  if (out.qeIdentity) {
    const q = out.qeIdentity.value;
    checks.add("tdx.collateral.qe_identity.id", q.id === "TD_QE", q.id === "TD_QE" ? "TD_QE identity" : `identity "${q.id}" is not the TDX QE ("TD_QE")`);
  }
  return out;
}

/** DER, or PEM text/bytes of an X509 CRL. */
export function parseCrl(input: Uint8Array | string, what: string): X509Crl {
  try {
    const asText = typeof input === "string" ? input : Buffer.from(input).subarray(0, 64).toString("latin1");
    if (asText.includes("-----BEGIN X509 CRL-----")) {
      return new X509Crl(typeof input === "string" ? input : Buffer.from(input).toString("latin1"));
    }
    return new X509Crl(typeof input === "string" ? Buffer.from(input, "latin1") : Buffer.from(input));
  } catch (e) {
    throw new CollateralError(`${what} is not an X.509 CRL (${messageOf(e)})`);
  }
}

interface CrlEntry {
  sameName: boolean;
  signatureOk: boolean;
  issuer: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** Revoked serial numbers, lower-case hex without leading zeros. */
  revoked: Set<string>;
}

/** Parsed and verified CRLs by SHA-256 of (CRL bytes, issuer certificate). Currency is re-checked per call. */
export const crlCache = new BoundedCache<CrlEntry>(64);

const normalSerial = (hex: string): string => hex.toLowerCase().replace(/^0+(?=.)/, "");

async function crlEntry(input: Uint8Array | string, issuer: NodeCertificate, what: string): Promise<CrlEntry> {
  const key = sha256Hex(Buffer.concat([Buffer.from(typeof input === "string" ? Buffer.from(input, "latin1") : input), issuer.raw]));
  const cached = crlCache.get(key);
  if (cached) return cached;
  const crl = parseCrl(input, what);
  const issuerCert = new PeculiarCertificate(issuer.raw);
  const sameName = crl.issuerName.toString() === issuerCert.subjectName.toString();
  let signatureOk = false;
  if (sameName) {
    try {
      signatureOk = await crl.verify({ publicKey: issuerCert });
    } catch {
      signatureOk = false;
    }
  }
  const entry: CrlEntry = {
    sameName,
    signatureOk,
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    revoked: new Set(crl.entries.map((e) => normalSerial(e.serialNumber))),
  };
  if (crl.nextUpdate) entry.nextUpdate = crl.nextUpdate;
  crlCache.set(key, entry);
  return entry;
}

/**
 * Check one CRL: issued by `issuer` (name and signature), current at `now`, and whether any of
 * `subjects` is on it. Records `${prefix}.signature`, `${prefix}.validity` and `${prefix}.revocation`.
 */
export async function checkCrl(
  input: Uint8Array | string | undefined,
  issuer: NodeCertificate | undefined,
  subjects: NodeCertificate[],
  now: Date,
  checks: CheckList,
  prefix: string,
): Promise<void> {
  if (input === undefined) {
    checks.fail(`${prefix}.signature`, "CRL not supplied");
    return;
  }
  if (!issuer) {
    checks.fail(`${prefix}.signature`, "issuer certificate not verified");
    return;
  }
  let crl: CrlEntry;
  try {
    crl = await crlEntry(input, issuer, prefix);
  } catch (e) {
    if (!(e instanceof CollateralError)) throw e;
    checks.fail(`${prefix}.signature`, e.message);
    return;
  }
  checks.add(
    `${prefix}.signature`,
    crl.signatureOk,
    !crl.sameName ? `CRL issued by "${crl.issuer}", not "${issuer.subject.replace(/\n/g, ", ")}"` : crl.signatureOk ? "signed by its issuer" : "CRL signature is invalid",
  );
  const next = crl.nextUpdate;
  const current = now >= crl.thisUpdate && next !== undefined && now <= next;
  checks.add(
    `${prefix}.validity`,
    current,
    `CRL ${crl.thisUpdate.toISOString()} → ${next?.toISOString() ?? "(no nextUpdate)"}${current ? "" : `: not current at ${now.toISOString()}`}`,
  );
  const revoked = subjects.filter((s) => crl.revoked.has(normalSerial(s.serialNumber)));
  checks.add(
    `${prefix}.revocation`,
    crl.signatureOk && revoked.length === 0,
    revoked.length > 0
      ? `revoked: ${revoked.map((s) => `serial ${s.serialNumber}`).join(", ")}`
      : crl.signatureOk
        ? `${subjects.length} certificate(s) not revoked`
        : "cannot rely on an unverified CRL",
  );
}
