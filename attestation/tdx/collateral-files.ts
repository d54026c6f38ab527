import { X509Certificate } from "node:crypto";
import { CollateralError } from "../errors.js";
import { topLevelMembers } from "./signed-json.js";
import { parseCrl, MAX_COLLATERAL_SIZE } from "./collateral.js";
import type { TdxCollateral } from "./collateral.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Sort collateral files by what they contain, so the CLI can take `--collateral FILE...` and the KBS
 * a `collateralDir` in any order and naming. Accepted:
 *  - Intel PCS bodies saved as files: TCB Info JSON (`tcbInfo` member), QE Identity JSON
 *    (`enclaveIdentity`), DER or PEM CRLs (issued by "Intel SGX Root CA": the root CRL, any other:
 *    the PCK CRL), and the issuer-chain headers saved as PEM, raw or URL-encoded as PCS sends them.
 *    A chain is told apart by its first certificate: "Intel SGX TCB Signing" is the TCB-Info (and
 *    QE-Identity) issuer chain; a PCK Platform/Processor CA is the SGX-PCK-CRL-Issuer-Chain, which
 *    is kept but not needed, since the PCK CRL is checked against the CA in the quote's PCK chain.
 *  - dcap-qvl's single JSON collateral file (QuoteCollateralV3: `tcb_info` and `qe_identity` as
 *    JSON text, their signatures and both CRLs as hex or byte arrays, issuer chains as PEM).
 * Two files giving the same document are an error, and so is a file whose name says one PCS
 * document while its content is another: a mislabelled file would otherwise be silently misused.
 */
export function classifyCollateralFiles(files: { name: string; bytes: Uint8Array }[]): Partial<TdxCollateral> {
  const out: Partial<TdxCollateral> = {};
  const put = <K extends keyof TdxCollateral>(key: K, value: TdxCollateral[K], name: string): void => {
    if (out[key] !== undefined) throw new CollateralError(`two collateral files are ${key} (second: ${name})`);
    out[key] = value;
  };
  for (const { name, bytes } of files) {
    if (bytes.byteLength > MAX_COLLATERAL_SIZE) throw new CollateralError(`${name}: over ${MAX_COLLATERAL_SIZE} bytes`);
    const kind = classifyOne(name, bytes);
    const expected = kindFromName(name);
    if (expected !== undefined && kind.key !== "dcapQvl" && expected !== kind.key) {
      throw new CollateralError(`${name}: the name says ${expected} but the content is ${kind.key}`);
    }
    if (kind.key === "dcapQvl") {
      for (const [k, v] of Object.entries(kind.value) as [keyof TdxCollateral, never][]) put(k, v, name);
    } else put(kind.key, kind.value as never, name);
  }
  return out;
}

type Classified =
  | { key: "tcbInfo" | "qeIdentity"; value: Uint8Array }
  | { key: "tcbSigningChain" | "pckCrlIssuerChain"; value: string }
  | { key: "pckCrl" | "rootCaCrl"; value: Uint8Array | string }
  | { key: "dcapQvl"; value: Partial<TdxCollateral> };

function classifyOne(name: string, bytes: Uint8Array): Classified {
  const head = Buffer.from(bytes.subarray(0, 64)).toString("latin1").trimStart();
  if (head.startsWith("{")) {
    const textOf = Buffer.from(bytes).toString("utf8");
    const members = topLevelMembers(textOf);
    if (members["tcbInfo"]) return { key: "tcbInfo", value: bytes };
    if (members["enclaveIdentity"]) return { key: "qeIdentity", value: bytes };
    if (members["tcb_info"] || members["qe_identity"]) return { key: "dcapQvl", value: fromDcapQvlJson(textOf, name) };
    throw new CollateralError(`${name}: JSON is neither TCB Info, QE Identity nor a dcap-qvl collateral file`);
  }
  if (head.startsWith("-----BEGIN CERTIFICATE-----") || head.startsWith("-----BEGIN%20CERTIFICATE-----")) {
    let pem = Buffer.from(bytes).toString("latin1");
    if (head.startsWith("-----BEGIN%20")) {
      try {
        pem = decodeURIComponent(pem.trim());
      } catch {
        throw new CollateralError(`${name}: URL-encoded certificate chain does not decode`);
      }
    }
    return { key: chainKind(pem, name), value: pem };
  }
  const crl = parseCrl(bytes, name);
  return { key: /CN=Intel SGX Root CA(,|$)/.test(crl.issuer) ? "rootCaCrl" : "pckCrl", value: bytes };
}

/** Which chain a PEM is, by the subject of its first certificate. */
function chainKind(pem: string, what: string): "tcbSigningChain" | "pckCrlIssuerChain" {
  const m = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  let subject: string;
  try {
    subject = new X509Certificate(m ? m[0] : pem).subject;
  } catch (err) {
    throw new CollateralError(`${what}: first certificate does not parse (${messageOf(err)})`);
  }
  if (/CN=Intel SGX TCB Signing$/m.test(subject)) return "tcbSigningChain";
  if (/CN=Intel SGX PCK (Platform|Processor) CA$/m.test(subject)) return "pckCrlIssuerChain";
  throw new CollateralError(`${what}: certificate chain starts with "${subject.replace(/\n/g, ", ")}", neither Intel SGX TCB Signing nor a PCK CA`);
}

/** The usual file names of saved PCS bodies and headers, so a mislabelled file is caught. */
function kindFromName(name: string): keyof TdxCollateral | undefined {
  const base = (name.split(/[\\/]/).pop() ?? name).toLowerCase().replace(/\.(pem|der|crl|json|txt|bin)$/, "");
  const table: Record<string, keyof TdxCollateral> = {
    tcb_info: "tcbInfo",
    tcbinfo: "tcbInfo",
    qe_identity: "qeIdentity",
    qeidentity: "qeIdentity",
    enclave_identity: "qeIdentity",
    enclaveidentity: "qeIdentity",
    tcb_info_issuer_chain: "tcbSigningChain",
    qe_identity_issuer_chain: "tcbSigningChain",
    enclave_identity_issuer_chain: "tcbSigningChain",
    pck_crl_issuer_chain: "pckCrlIssuerChain",
    pck_crl: "pckCrl",
    pckcrl: "pckCrl",
    root_ca_crl: "rootCaCrl",
    rootcacrl: "rootCaCrl",
  };
  return table[base];
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** A dcap-qvl byte field: a hex string (its JSON output) or an array of byte values (serde's default). */
function bytesField(doc: Record<string, unknown>, field: string, file: string): Uint8Array | undefined {
  const v = doc[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") {
    const s = v.startsWith("0x") ? v.slice(2) : v;
    if (!HEX.test(s)) throw new CollateralError(`${file}: ${field} is not hex`);
    return Buffer.from(s, "hex");
  }
  if (Array.isArray(v) && v.length <= MAX_COLLATERAL_SIZE && v.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) {
    return Uint8Array.from(v as number[]);
  }
  throw new CollateralError(`${file}: ${field} is neither a hex string nor an array of bytes`);
}

function stringField(doc: Record<string, unknown>, field: string, file: string, required: boolean): string | undefined {
  const v = doc[field];
  if (v === undefined || v === null) {
    if (required) throw new CollateralError(`${file}: ${field} is missing`);
    return undefined;
  }
  if (typeof v !== "string") throw new CollateralError(`${file}: ${field} is not a string`);
  return v;
}

/**
 * dcap-qvl's collateral JSON re-expressed as the PCS bodies the verifier takes. The signed text is
 * `tcb_info` / `qe_identity` verbatim, so wrapping it as `{"tcbInfo":<text>,"signature":…}` keeps
 * the signature verifiable over exactly the bytes Intel signed.
 */
function fromDcapQvlJson(textOf: string, file: string): Partial<TdxCollateral> {
  let doc: unknown;
  try {
    doc = JSON.parse(textOf);
  } catch (err) {
    throw new CollateralError(`${file}: not JSON (${messageOf(err)})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new CollateralError(`${file}: not a JSON object`);
  const d = doc as Record<string, unknown>;
  const out: Partial<TdxCollateral> = {};
  const signed = (field: "tcb_info" | "qe_identity", member: "tcbInfo" | "enclaveIdentity", id: RegExp): Uint8Array => {
    const body = stringField(d, field, file, true)!;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new CollateralError(`${file}: ${field} is not JSON text`);
    }
    const pid = typeof parsed === "object" && parsed !== null ? (parsed as { id?: unknown }).id : undefined;
    if (typeof pid !== "string" || !id.test(pid)) {
      throw new CollateralError(`${file}: ${field} has id ${JSON.stringify(pid)}, not ${field === "tcb_info" ? "TDX TCB Info" : "a TD QE identity"}`);
    }
    const sig = bytesField(d, `${field}_signature`, file);
    if (!sig) throw new CollateralError(`${file}: ${field}_signature is missing`);
    if (sig.byteLength !== 64) throw new CollateralError(`${file}: ${field}_signature is ${sig.byteLength} bytes, not 64`);
    return Buffer.from(`{"${member}":${body},"signature":"${Buffer.from(sig).toString("hex")}"}`, "utf8");
  };
  out.tcbInfo = signed("tcb_info", "tcbInfo", /^TDX$/);
  out.qeIdentity = signed("qe_identity", "enclaveIdentity", /^TD_QE$/);
  const tcbChain = stringField(d, "tcb_info_issuer_chain", file, true)!;
  if (chainKind(tcbChain, `${file}: tcb_info_issuer_chain`) !== "tcbSigningChain") {
    throw new CollateralError(`${file}: tcb_info_issuer_chain is a PCK CA chain, not the TCB Signing chain`);
  }
  out.tcbSigningChain = tcbChain;
  const qeChain = stringField(d, "qe_identity_issuer_chain", file, false);
  // One signing chain serves both documents here; Intel issues both with the same TCB Signing key.
  if (qeChain !== undefined && qeChain.trim() !== tcbChain.trim()) {
    throw new CollateralError(`${file}: qe_identity_issuer_chain differs from tcb_info_issuer_chain`);
  }
  const pckChain = stringField(d, "pck_crl_issuer_chain", file, false);
  if (pckChain !== undefined && pckChain.trim() !== "") {
    if (chainKind(pckChain, `${file}: pck_crl_issuer_chain`) !== "pckCrlIssuerChain") {
      throw new CollateralError(`${file}: pck_crl_issuer_chain is the TCB Signing chain, not a PCK CA chain`);
    }
    out.pckCrlIssuerChain = pckChain;
  }
  for (const [field, key, root] of [
    ["pck_crl", "pckCrl", false],
    ["root_ca_crl", "rootCaCrl", true],
  ] as const) {
    const raw = typeof d[field] === "string" && (d[field] as string).startsWith("-----BEGIN") ? (d[field] as string) : bytesField(d, field, file);
    if (raw === undefined) continue;
    const crl = parseCrl(raw, `${file}: ${field}`);
    if (/CN=Intel SGX Root CA(,|$)/.test(crl.issuer) !== root) {
      throw new CollateralError(`${file}: ${field} is issued by "${crl.issuer}", so it is not the ${root ? "root CA" : "PCK"} CRL`);
    }
    out[key] = raw;
  }
  return out;
}

/** Classify, then require the three documents every verification needs. */
export function collateralFromFiles(files: { name: string; bytes: Uint8Array }[]): TdxCollateral {
  const c = classifyCollateralFiles(files);
  const missing = (["tcbInfo", "qeIdentity", "tcbSigningChain"] as const).filter((k) => c[k] === undefined);
  if (missing.length > 0) throw new CollateralError(`collateral is missing: ${missing.join(", ")}`);
  return c as TdxCollateral;
}
