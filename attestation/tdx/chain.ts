import { createHash, X509Certificate } from "node:crypto";
import { INTEL_SGX_ROOT_CA_PEM } from "../roots/intel/index.js";
import { EvidenceFormatError } from "../errors.js";
import type { CheckList } from "../result.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedMap } from "../../lib/bounded-map.js";

/**
 * Certificate chains to a pinned root: the PCK chain carried in a quote (PCK leaf ← Platform or
 * Processor CA ← root) and the TCB Signing chain that signs TCB Info and QE Identity.
 *
 * Signatures and issuer links depend only on the bytes, so a verified chain is cached by the
 * fingerprint of its DER certificates and the pinned root; time validity depends on the clock and
 * is re-checked on every call. Only chains that verified are cached.
 */

/** At most this many certificates in one PEM bundle: Intel chains have 2 or 3. */
const MAX_CHAIN_CERTS = 4;

export function pemCertificates(pem: string, what: string): Buffer[] {
  const re = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g;
  const out: Buffer[] = [];
  for (const m of pem.matchAll(re)) {
    if (out.length >= MAX_CHAIN_CERTS) throw new EvidenceFormatError(`${what}: more than ${MAX_CHAIN_CERTS} certificates`);
    out.push(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
  }
  if (out.length === 0) throw new EvidenceFormatError(`${what}: no PEM certificate found`);
  return out;
}

export function parseCertificate(der: Uint8Array, what: string): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (e) {
    throw new EvidenceFormatError(`${what}: not an X.509 certificate (${messageOf(e)})`);
  }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A pinned trust anchor, parsed once. */
export interface TrustAnchor {
  cert: X509Certificate;
  /** SHA-256 of the DER, lower-case hex. */
  fingerprint: string;
}

export function trustAnchorFromPem(pem: string): TrustAnchor {
  const [der] = pemCertificates(pem, "trust anchor");
  const cert = parseCertificate(der!, "trust anchor");
  return { cert, fingerprint: sha256Hex(der!) };
}

let intelRoot: TrustAnchor | undefined;
/** The Intel SGX Root CA shipped with the product. */
export function intelSgxRoot(): TrustAnchor {
  intelRoot ??= trustAnchorFromPem(INTEL_SGX_ROOT_CA_PEM);
  return intelRoot;
}

/** A bounded map with least-recently-used eviction. */
export class BoundedCache<V> {
  private readonly map: BoundedMap<string, V>;
  hits = 0;
  misses = 0;
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("cache capacity must be a positive integer");
    this.map = new BoundedMap({ maxEntries: capacity, lru: true });
  }
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return v;
  }
  set(key: string, value: V): void {
    this.map.set(key, value);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
    this.hits = 0;
    this.misses = 0;
  }
}

/** A chain whose root, issuer links and signatures verified: parsed once, reused while cached. */
export interface ChainEntry {
  certs: X509Certificate[];
  windows: { from: Date; to: Date }[];
  detail: string;
}

/** Chains whose signatures verified, by fingerprint. Exported so a benchmark can clear it or read hits. */
export const verifiedChainCache = new BoundedCache<ChainEntry>(1024);

export interface VerifiedChain {
  /** Leaf first, pinned root last (the root is the pinned object, not the one supplied). */
  certs: X509Certificate[];
  /** Root pinned, issuer links and signatures verified. */
  signaturesOk: boolean;
  /** Every certificate valid at the given time. */
  validNow: boolean;
}

function validity(cert: X509Certificate): { from: Date; to: Date } {
  return { from: new Date(cert.validFrom), to: new Date(cert.validTo) };
}

function subjectCn(cert: X509Certificate): string {
  return /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? cert.subject;
}

/**
 * Verify `ders` (leaf first; the supplied root, if any, last) up to `anchor`, recording
 * `${prefix}.root`, `${prefix}.signatures` and `${prefix}.validity`.
 */
export function verifyChain(
  ders: Buffer[],
  anchor: TrustAnchor,
  now: Date,
  checks: CheckList,
  prefix: string,
  /**
   * Required number of certificates from leaf to pinned root inclusive: 3 for a PCK chain (leaf,
   * PCK CA, root), 2 for the TCB Signing chain. Fixing the shape keeps one kind of Intel-issued
   * key from standing in for another (a PCK key, held by a platform, must never sign TCB Info).
   */
  pathLength: number,
  cache: BoundedCache<ChainEntry> = verifiedChainCache,
): VerifiedChain {
  const key = sha256Hex(Buffer.concat([...ders, Buffer.from(anchor.fingerprint, "hex"), Buffer.from([pathLength])]));
  let entry = cache.get(key);
  if (entry) {
    checks.pass(`${prefix}.root`, `chain anchored at pinned "${subjectCn(anchor.cert)}"`);
    checks.pass(`${prefix}.signatures`, entry.detail);
  } else {
    const verified = verifyUncached(ders, anchor, checks, prefix, pathLength);
    if (!verified.entry) return { certs: verified.certs, signaturesOk: false, validNow: false };
    entry = verified.entry;
    cache.set(key, entry);
  }
  const expired = entry.windows.flatMap((w, i) => (now >= w.from && now <= w.to ? [] : [{ cert: entry.certs[i]!, ...w }]));
  checks.add(
    `${prefix}.validity`,
    expired.length === 0,
    expired.length === 0
      ? `all ${entry.certs.length} certificates valid at ${now.toISOString()}`
      : expired.map((e) => `"${subjectCn(e.cert)}" valid ${e.from.toISOString()} → ${e.to.toISOString()}, not at ${now.toISOString()}`).join("; "),
  );
  return { certs: entry.certs, signaturesOk: true, validNow: expired.length === 0 };
}

function verifyUncached(
  ders: Buffer[],
  anchor: TrustAnchor,
  checks: CheckList,
  prefix: string,
  pathLength: number,
): { certs: X509Certificate[]; entry?: ChainEntry } {
  const supplied = ders.map((d, i) => parseCertificate(d, `${prefix} certificate ${i}`));
  // A supplied root must be the pinned one; it is then dropped and the pinned object used instead.
  let path = supplied;
  const last = supplied[supplied.length - 1]!;
  if (supplied.length > 1 && last.subject === last.issuer) {
    const fp = sha256Hex(ders[ders.length - 1]!);
    if (fp !== anchor.fingerprint) {
      checks.fail(`${prefix}.root`, `chain ends in "${subjectCn(last)}" (SHA-256 ${fp}), not the pinned root ${anchor.fingerprint}`);
      return { certs: supplied };
    }
    path = supplied.slice(0, -1);
  }
  checks.pass(`${prefix}.root`, `chain anchored at pinned "${subjectCn(anchor.cert)}"`);
  const certs = [...path, anchor.cert];
  if (certs.length !== pathLength) {
    checks.fail(`${prefix}.signatures`, `chain has ${certs.length} certificates up to the root, expected ${pathLength}`);
    return { certs };
  }
  if (certs[0]!.ca) {
    checks.fail(`${prefix}.signatures`, `end-entity "${subjectCn(certs[0]!)}" is a CA certificate`);
    return { certs };
  }
  for (let i = 0; i < certs.length - 1; i++) {
    const child = certs[i]!;
    const parent = certs[i + 1]!;
    let problem: string | undefined;
    if (!parent.ca) problem = `"${subjectCn(parent)}" is not a CA but issues "${subjectCn(child)}"`;
    else if (!child.checkIssued(parent)) problem = `"${subjectCn(child)}" was not issued by "${subjectCn(parent)}"`;
    else if (!safeVerify(child, parent)) problem = `signature of "${subjectCn(child)}" by "${subjectCn(parent)}" is invalid`;
    if (problem) {
      checks.fail(`${prefix}.signatures`, problem);
      return { certs };
    }
  }
  const detail = certs.map(subjectCn).join(" ← ");
  checks.pass(`${prefix}.signatures`, detail);
  return { certs, entry: { certs, windows: certs.map(validity), detail } };
}

function safeVerify(child: X509Certificate, parent: X509Certificate): boolean {
  try {
    return child.verify(parent.publicKey);
  } catch {
    return false;
  }
}
