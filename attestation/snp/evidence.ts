import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { EvidenceFormatError } from "../errors.js";
import { encodeTcb, parseSnpReport as parseSnpReportForJson, SNP_REPORT_SIZE, SNP_SIGNATURE_OFFSET, type SnpReport, type SnpTcb, type TcbLayout } from "./report.js";
import { MAX_CERT_BYTES, MAX_CERTS_IN_BUNDLE } from "./x509.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Trustee's SNP `primary_evidence` (deps/verifier/src/snp/mod.rs `SnpEvidence`): serde's rendering
 * of the virtee/sev crate's `AttestationReport` (fields, not bytes) and an optional
 * `cert_chain: [{cert_type, data}]` (the extended report's certificate table). The report is
 * rebuilt byte for byte, because the signature covers the firmware's bytes, not the JSON; reserved
 * bytes are zero by the ABI (and parseSnpReport insists on it).
 */

const bytes = (n: number) => Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { minItems: n, maxItems: n });
const u8 = Type.Integer({ minimum: 0, maximum: 255 });
const u32 = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
/** u64 fields arrive as JSON numbers; only exactly representable ones are accepted. */
const u64 = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const optional = <T extends TSchema>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));

const TcbJson = Type.Object(
  { fmc: optional(u8), bootloader: u8, tee: u8, snp: u8, microcode: u8 },
  { additionalProperties: false },
);
const VersionJson = Type.Object({ major: u8, minor: u8, build: u8 }, { additionalProperties: false });

export const SnpReportJson = Type.Object(
  {
    version: u32,
    guest_svn: u32,
    policy: u64,
    family_id: bytes(16),
    image_id: bytes(16),
    vmpl: u32,
    sig_algo: u32,
    current_tcb: TcbJson,
    plat_info: u64,
    key_info: u32,
    report_data: bytes(64),
    measurement: bytes(48),
    host_data: bytes(32),
    id_key_digest: bytes(48),
    author_key_digest: bytes(48),
    report_id: bytes(32),
    report_id_ma: bytes(32),
    reported_tcb: TcbJson,
    cpuid_fam_id: optional(u8),
    cpuid_mod_id: optional(u8),
    cpuid_step: optional(u8),
    chip_id: bytes(64),
    committed_tcb: TcbJson,
    current: VersionJson,
    committed: VersionJson,
    launch_tcb: TcbJson,
    launch_mit_vector: optional(u64),
    current_mit_vector: optional(u64),
    signature: Type.Object({ r: bytes(72), s: bytes(72) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);
export type SnpReportJson = Static<typeof SnpReportJson>;

/** serde's rendering of the sev crate's `CertType`: unit variants as strings, OTHER as {"OTHER": uuid}. */
const CertTypeJson = Type.Union([
  Type.Literal("Empty"),
  Type.Literal("ARK"),
  Type.Literal("ASK"),
  Type.Literal("VCEK"),
  Type.Literal("VLEK"),
  Type.Literal("CRL"),
  Type.Object({ OTHER: Type.String({ maxLength: 36 }) }, { additionalProperties: false }),
]);

export const SnpEvidenceJson = Type.Object(
  {
    attestation_report: SnpReportJson,
    cert_chain: optional(
      Type.Array(
        Type.Object(
          { cert_type: CertTypeJson, data: Type.Array(u8, { maxItems: MAX_CERT_BYTES }) },
          { additionalProperties: false },
        ),
        { maxItems: MAX_CERTS_IN_BUNDLE },
      ),
    ),
  },
  { additionalProperties: false },
);
export type SnpEvidenceJson = Static<typeof SnpEvidenceJson>;

const check = TypeCompiler.Compile(SnpEvidenceJson);

/** Certificates found in evidence, by role (DER). */
export interface SnpEvidenceCerts {
  vcek?: Buffer;
  vlek?: Buffer;
  ask?: Buffer;
  ark?: Buffer;
}

export interface DecodedSnpEvidence {
  /** The 1184-byte report, rebuilt from the JSON fields. */
  report: Buffer;
  certs: SnpEvidenceCerts;
}

function layoutFor(r: SnpReportJson): TcbLayout {
  if (r.version >= 3) return (r.cpuid_fam_id ?? 0) >= 0x1a ? "turin" : "milan-genoa";
  const chip = r.chip_id;
  return chip.some((b) => b !== 0) && chip.slice(8).every((b) => b === 0) ? "turin" : "milan-genoa";
}

/** Rebuilds the ATTESTATION_REPORT bytes from the sev crate's JSON fields (same layout as report.ts). */
export function encodeSnpReportJson(r: SnpReportJson): Buffer {
  const out = Buffer.alloc(SNP_REPORT_SIZE);
  const layout = layoutFor(r);
  const tcb = (t: Static<typeof TcbJson>, offset: number, what: string): void => {
    if (layout !== "turin" && t.fmc !== undefined && t.fmc !== null) {
      throw new EvidenceFormatError(`SNP evidence: ${what} has an fmc value, which only Turin reports carry`);
    }
    const parts: { bootloader: number; tee: number; snp: number; microcode: number; fmc?: number } = {
      bootloader: t.bootloader,
      tee: t.tee,
      snp: t.snp,
      microcode: t.microcode,
    };
    if (t.fmc !== undefined && t.fmc !== null) parts.fmc = t.fmc;
    encodeTcb(parts, layout).copy(out, offset);
  };
  out.writeUInt32LE(r.version, 0x00);
  out.writeUInt32LE(r.guest_svn, 0x04);
  out.writeBigUInt64LE(BigInt(r.policy), 0x08);
  Buffer.from(r.family_id).copy(out, 0x10);
  Buffer.from(r.image_id).copy(out, 0x20);
  out.writeUInt32LE(r.vmpl, 0x30);
  out.writeUInt32LE(r.sig_algo, 0x34);
  tcb(r.current_tcb, 0x38, "current_tcb");
  out.writeBigUInt64LE(BigInt(r.plat_info), 0x40);
  out.writeUInt32LE(r.key_info, 0x48);
  Buffer.from(r.report_data).copy(out, 0x50);
  Buffer.from(r.measurement).copy(out, 0x90);
  Buffer.from(r.host_data).copy(out, 0xc0);
  Buffer.from(r.id_key_digest).copy(out, 0xe0);
  Buffer.from(r.author_key_digest).copy(out, 0x110);
  Buffer.from(r.report_id).copy(out, 0x140);
  Buffer.from(r.report_id_ma).copy(out, 0x160);
  tcb(r.reported_tcb, 0x180, "reported_tcb");
  if (r.version >= 3) {
    out[0x188] = r.cpuid_fam_id ?? 0;
    out[0x189] = r.cpuid_mod_id ?? 0;
    out[0x18a] = r.cpuid_step ?? 0;
  } else if (r.cpuid_fam_id != null || r.cpuid_mod_id != null || r.cpuid_step != null) {
    throw new EvidenceFormatError("SNP evidence: a version 2 report has no CPUID fields");
  }
  Buffer.from(r.chip_id).copy(out, 0x1a0);
  tcb(r.committed_tcb, 0x1e0, "committed_tcb");
  out[0x1e8] = r.current.build;
  out[0x1e9] = r.current.minor;
  out[0x1ea] = r.current.major;
  out[0x1ec] = r.committed.build;
  out[0x1ed] = r.committed.minor;
  out[0x1ee] = r.committed.major;
  tcb(r.launch_tcb, 0x1f0, "launch_tcb");
  if (r.version >= 5) {
    out.writeBigUInt64LE(BigInt(r.launch_mit_vector ?? 0), 0x1f8);
    out.writeBigUInt64LE(BigInt(r.current_mit_vector ?? 0), 0x200);
  } else if (r.launch_mit_vector != null || r.current_mit_vector != null) {
    throw new EvidenceFormatError(`SNP evidence: a version ${r.version} report has no mitigation vectors`);
  }
  Buffer.from(r.signature.r).copy(out, SNP_SIGNATURE_OFFSET);
  Buffer.from(r.signature.s).copy(out, SNP_SIGNATURE_OFFSET + 72);
  return out;
}

/** Validates and decodes Trustee-format SNP evidence. Throws EvidenceFormatError on any problem. */
export function decodeSnpEvidence(value: unknown): DecodedSnpEvidence {
  if (!check.Check(value)) {
    const problems = [...check.Errors(value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
    throw new EvidenceFormatError(`SNP evidence is invalid: ${problems.join("; ")}`, { problems });
  }
  const certs: SnpEvidenceCerts = {};
  for (const entry of value.cert_chain ?? []) {
    const type = entry.cert_type;
    if (typeof type !== "string" || type === "Empty" || type === "CRL") continue;
    const role = type.toLowerCase() as keyof SnpEvidenceCerts;
    if (certs[role]) throw new EvidenceFormatError(`SNP evidence: cert_chain has two ${type} certificates`);
    certs[role] = Buffer.from(entry.data);
  }
  return { report: encodeSnpReportJson(value.attestation_report), certs };
}

// ---------------------------------------------------------------------------------------------
// Extended report certificate table (GHCB spec 56421, MSG_REPORT_REQ extended; configfs-tsm
// `auxblob`): entries of {GUID (16 bytes, RFC 4122 byte order), offset u32 LE, length u32 LE},
// terminated by an all-zero entry; offsets are from the start of the table.

export const CERT_TABLE_GUIDS = {
  vcek: "63da758d-e664-4564-adc5-f4b93be8accd",
  vlek: "a8074bc2-a25a-483e-aae6-39c045a0b8a1",
  ask: "4ab7b379-bbac-4fe4-a02f-05aef327c782",
  ark: "c0b406a4-a803-4952-9743-3fb6014cd0ae",
} as const;

const ENTRY_SIZE = 24;
/** A table with more entries than this is not one a real host produces. */
const MAX_TABLE_ENTRIES = 16;
/** The GHCB gives the guest at most a few pages for certificates. */
export const MAX_CERT_TABLE_BYTES = 64 * 1024;

function guidString(b: Buffer): string {
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Parses the certificate table; unknown GUIDs are ignored. Throws EvidenceFormatError when malformed. */
export function parseCertTable(table: Uint8Array): SnpEvidenceCerts {
  const d = Buffer.from(table);
  if (d.byteLength > MAX_CERT_TABLE_BYTES) throw new EvidenceFormatError(`certificate table is ${d.byteLength} bytes (max ${MAX_CERT_TABLE_BYTES})`);
  const out: SnpEvidenceCerts = {};
  if (d.byteLength === 0) return out;
  const byGuid = new Map<string, keyof SnpEvidenceCerts>(Object.entries(CERT_TABLE_GUIDS).map(([k, v]) => [v, k as keyof SnpEvidenceCerts]));
  for (let i = 0; ; i++) {
    if (i >= MAX_TABLE_ENTRIES) throw new EvidenceFormatError(`certificate table has more than ${MAX_TABLE_ENTRIES} entries`);
    const at = i * ENTRY_SIZE;
    if (at + ENTRY_SIZE > d.byteLength) throw new EvidenceFormatError("certificate table has no terminating zero entry");
    const guid = d.subarray(at, at + 16);
    const offset = d.readUInt32LE(at + 16);
    const length = d.readUInt32LE(at + 20);
    if (offset === 0 && length === 0 && guid.every((b) => b === 0)) break;
    if (offset < at + ENTRY_SIZE || offset + length > d.byteLength) {
      throw new EvidenceFormatError(`certificate table entry ${i} points outside the table (offset ${offset}, length ${length})`);
    }
    if (length > MAX_CERT_BYTES) throw new EvidenceFormatError(`certificate table entry ${i} is ${length} bytes (max ${MAX_CERT_BYTES})`);
    const role = byGuid.get(guidString(Buffer.from(guid)));
    if (!role) continue;
    if (out[role]) throw new EvidenceFormatError(`certificate table has two ${role.toUpperCase()} entries`);
    out[role] = Buffer.from(d.subarray(offset, offset + length));
  }
  return out;
}

/** Builds a certificate table (for attesters that assemble one, and for tests). */
export function buildCertTable(certs: SnpEvidenceCerts): Buffer {
  const entries = (Object.keys(CERT_TABLE_GUIDS) as Array<keyof SnpEvidenceCerts>).filter((k) => certs[k]);
  const header = (entries.length + 1) * ENTRY_SIZE;
  const parts: Buffer[] = [];
  const head = Buffer.alloc(header);
  let cursor = header;
  entries.forEach((role, i) => {
    const data = certs[role] as Buffer;
    Buffer.from(CERT_TABLE_GUIDS[role].replace(/-/g, ""), "hex").copy(head, i * ENTRY_SIZE);
    head.writeUInt32LE(cursor, i * ENTRY_SIZE + 16);
    head.writeUInt32LE(data.byteLength, i * ENTRY_SIZE + 20);
    parts.push(data);
    cursor += data.byteLength;
  });
  return Buffer.concat([head, ...parts]);
}

// ---------------------------------------------------------------------------------------------
// The other direction, for attesters: report bytes (+ certificates) → Trustee's JSON.

const arr = (b: Buffer): number[] => [...b];

/**
 * Renders a report as the sev crate serialises it. `parseSnpReport` runs first, so only reports
 * that round-trip (reserved bytes zero) are rendered.
 */
export function snpReportToJson(report: SnpReport): SnpReportJson {
  const tcb = (t: SnpTcb) => ({ fmc: t.fmc ?? null, bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode });
  const d = report.raw;
  const u64n = (offset: number, what: string): number => {
    const v = d.readBigUInt64LE(offset);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new EvidenceFormatError(`${what} 0x${v.toString(16)} does not fit a JSON number`);
    return Number(v);
  };
  return {
    version: report.version,
    guest_svn: report.guestSvn,
    policy: u64n(0x08, "policy"),
    family_id: arr(report.familyId),
    image_id: arr(report.imageId),
    vmpl: report.vmpl,
    sig_algo: report.signatureAlgo,
    current_tcb: tcb(report.currentTcb),
    plat_info: u64n(0x40, "platform info"),
    key_info: report.signerInfo.raw,
    report_data: arr(report.reportData),
    measurement: arr(report.measurement),
    host_data: arr(report.hostData),
    id_key_digest: arr(report.idKeyDigest),
    author_key_digest: arr(report.authorKeyDigest),
    report_id: arr(report.reportId),
    report_id_ma: arr(report.reportIdMa),
    reported_tcb: tcb(report.reportedTcb),
    cpuid_fam_id: report.cpuid?.family ?? null,
    cpuid_mod_id: report.cpuid?.model ?? null,
    cpuid_step: report.cpuid?.stepping ?? null,
    chip_id: arr(report.chipId),
    committed_tcb: tcb(report.committedTcb),
    current: { ...report.currentVersion },
    committed: { ...report.committedVersion },
    launch_tcb: tcb(report.launchTcb),
    launch_mit_vector: report.version >= 5 ? u64n(0x1f8, "launch_mit_vector") : null,
    current_mit_vector: report.version >= 5 ? u64n(0x200, "current_mit_vector") : null,
    signature: { r: arr(d.subarray(SNP_SIGNATURE_OFFSET, SNP_SIGNATURE_OFFSET + 72)), s: arr(d.subarray(SNP_SIGNATURE_OFFSET + 72, SNP_SIGNATURE_OFFSET + 144)) },
  };
}

/** Builds Trustee SNP evidence from report bytes and the certificates an extended report returned. */
export function encodeSnpEvidence(reportBytes: Uint8Array, certs: SnpEvidenceCerts = {}): SnpEvidenceJson {
  const report = parseSnpReportForJson(reportBytes);
  const chain: NonNullable<SnpEvidenceJson["cert_chain"]> = [];
  for (const [role, type] of [["vcek", "VCEK"], ["vlek", "VLEK"], ["ask", "ASK"], ["ark", "ARK"]] as const) {
    const der = certs[role];
    if (der) chain.push({ cert_type: type, data: arr(der) });
  }
  return { attestation_report: snpReportToJson(report), cert_chain: chain.length > 0 ? chain : null };
}

/** Largest evidence file read: Trustee JSON with a full chain is ~60 KiB as number arrays. */
export const MAX_SNP_EVIDENCE_FILE_BYTES = 1024 * 1024;

/**
 * Reads what a file given to `propeller attestation verify --tee snp --evidence FILE` may hold:
 * the raw 1184-byte report; the report followed by its certificate table (go-sev-guest's
 * "report + certs" layout, configfs-tsm outblob ‖ auxblob); or Trustee's JSON evidence.
 * Throws EvidenceFormatError when it is none of these.
 */
export function readSnpEvidenceFile(bytes: Uint8Array): DecodedSnpEvidence {
  const d = Buffer.from(bytes);
  if (d.byteLength > MAX_SNP_EVIDENCE_FILE_BYTES) throw new EvidenceFormatError(`SNP evidence file is ${d.byteLength} bytes (max ${MAX_SNP_EVIDENCE_FILE_BYTES})`);
  const first = d.subarray(0, 64).toString("latin1").trimStart()[0];
  if (first === "{") {
    let json: unknown;
    try {
      json = JSON.parse(d.toString("utf8"));
    } catch (err) {
      throw new EvidenceFormatError(`SNP evidence file is not valid JSON: ${messageOf(err)}`);
    }
    return decodeSnpEvidence(json);
  }
  if (d.byteLength === SNP_REPORT_SIZE) return { report: d, certs: {} };
  if (d.byteLength > SNP_REPORT_SIZE) return { report: Buffer.from(d.subarray(0, SNP_REPORT_SIZE)), certs: parseCertTable(d.subarray(SNP_REPORT_SIZE)) };
  throw new EvidenceFormatError(`SNP evidence file is ${d.byteLength} bytes: neither a report (${SNP_REPORT_SIZE}), a report with certificates, nor JSON`);
}
