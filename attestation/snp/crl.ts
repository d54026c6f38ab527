import { createHash } from "node:crypto";
import type { AmdProduct } from "../roots/amd/index.js";
import { EvidenceFormatError } from "../errors.js";
import type { CheckList } from "../result.js";
import { BoundedMap } from "../../lib/bounded-map.js";
import { messageOf } from "../../lib/errors.js";
import { certFingerprint, x509 } from "./x509.js";

/**
 * AMD KDS CRLs (`/vcek/v1/<product>/crl`, `/vlek/v1/<product>/crl`): issued and signed by the
 * ARK, they list the serials of revoked certificates the ARK issued, that is ASKs and ASVKs.
 * A VCEK/VLEK serial is in its ASK's numbering, so the ARK's CRL cannot name one; revoking the ASK
 * refuses every VEK under it. Checked only when a CRL is supplied: without one, nothing changes.
 */

/** Real KDS CRLs are ~1 KiB; anything far larger is not one. */
export const MAX_AMD_CRL_BYTES = 64 * 1024;

export interface AmdCrl {
  crl: x509.X509Crl;
  /** SHA-256 of the DER, for logs and cache keys. */
  digest: string;
}

/** Parse a CRL (DER or PEM). Throws EvidenceFormatError naming `what`. */
export function parseAmdCrl(input: Uint8Array | string, what: string): AmdCrl {
  const size = typeof input === "string" ? input.length : input.byteLength;
  if (size > MAX_AMD_CRL_BYTES) throw new EvidenceFormatError(`${what}: CRL is over ${MAX_AMD_CRL_BYTES} bytes`);
  const text = typeof input === "string" ? input : Buffer.from(input.subarray(0, 32)).toString("latin1");
  try {
    let der: Buffer;
    if (text.trimStart().startsWith("-----BEGIN")) {
      const pem = typeof input === "string" ? input : Buffer.from(input).toString("latin1");
      const m = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(pem);
      if (!m) throw new Error("PEM without an X509 CRL block");
      der = Buffer.from(m[1]!.replace(/\s+/g, ""), "base64");
    } else der = Buffer.from(input as Uint8Array);
    const crl = new x509.X509Crl(der);
    return { crl, digest: createHash("sha256").update(Buffer.from(crl.rawData)).digest("hex") };
  } catch (err) {
    throw new EvidenceFormatError(`${what}: not a CRL (${messageOf(err)})`);
  }
}

/**
 * Signature results by (ARK fingerprint, CRL digest), kept until the CRL's nextUpdate: after that
 * the entry is dropped, and the CRL itself is refused as expired (see checkAmdCrl).
 */
const signatureCache = new BoundedMap<string, { ok: boolean; until: number }>({ maxEntries: 64, lru: true });

function isAmdPss(crl: x509.X509Crl): boolean {
  const alg = crl.signatureAlgorithm as { name?: string; hash?: { name?: string }; saltLength?: number };
  return alg.name === "RSA-PSS" && alg.hash?.name === "SHA-384" && alg.saltLength === 48;
}

async function signedByArk(c: AmdCrl, ark: x509.X509Certificate, now: Date): Promise<boolean> {
  const key = `${certFingerprint(ark)}>${c.digest}`;
  const hit = signatureCache.get(key);
  if (hit && now.getTime() <= hit.until) return hit.ok;
  let ok = false;
  if (isAmdPss(c.crl)) {
    try {
      ok = await c.crl.verify({ publicKey: ark });
    } catch {
      ok = false;
    }
  }
  const until = c.crl.nextUpdate?.getTime() ?? now.getTime();
  signatureCache.set(key, { ok, until });
  return ok;
}

const serialOf = (s: string): string => s.toLowerCase().replace(/^0+(?=.)/, "");

/**
 * Checks the CRLs issued by `product`'s ARK (KDS serves one for VCEK and one for VLEK chains, both
 * from the ARK) and whether any revokes the ASK/ASVK in use: `snp.crl.signature` (issued by the
 * pinned ARK's name, RSASSA-PSS signature by its key), `snp.crl.validity` (thisUpdate ≤ now ≤
 * nextUpdate) and `snp.crl.revocation`. An expired CRL is refused, not used: this verifier does
 * not fetch from KDS, and a stale list cannot show a revocation made since, so the operator must
 * supply a current one. Returns true when every check passed.
 */
export async function checkAmdCrls(
  crls: readonly AmdCrl[],
  input: { product: AmdProduct; ark: x509.X509Certificate; ask: x509.X509Certificate; askRole: string; now: Date },
  checks: CheckList,
): Promise<boolean> {
  const { product, ark, ask, askRole, now } = input;
  const mine = crls.filter((c) => c.crl.issuer === ark.subject);
  if (mine.length === 0) {
    // CRLs were supplied, but none for this product: say so rather than pass silently.
    return checks.fail("snp.crl.signature", `no CRL issued by ARK-${product} among the ${crls.length} supplied`);
  }
  const badSig: string[] = [];
  const stale: string[] = [];
  for (const c of mine) {
    const id = `sha256 ${c.digest.slice(0, 16)}…`;
    if (!(await signedByArk(c, ark, now))) badSig.push(id);
    const next = c.crl.nextUpdate;
    const window = `${c.crl.thisUpdate.toISOString()} → ${next ? next.toISOString() : "no nextUpdate"}`;
    if (now < c.crl.thisUpdate) stale.push(`${id} not yet current (${window})`);
    else if (!next || now > next) stale.push(`${id} expired (${window}): supply a current one from KDS`);
  }
  let ok = true;
  if (badSig.length) ok = checks.fail("snp.crl.signature", `CRL ${badSig.join(", ")} is not signed by the pinned ARK-${product} with RSASSA-PSS/SHA-384`) && ok;
  else checks.pass("snp.crl.signature", `${mine.length} CRL(s) signed by ARK-${product}`);
  if (stale.length) ok = checks.fail("snp.crl.validity", `at ${now.toISOString()}: ${stale.join("; ")}`) && ok;
  else checks.pass("snp.crl.validity", `CRL(s) current at ${now.toISOString()}`);

  const askSerial = serialOf(ask.serialNumber);
  const revoked = mine.flatMap((c) => c.crl.entries ?? []).find((e) => serialOf(e.serialNumber) === askSerial);
  if (revoked) {
    ok = checks.fail("snp.crl.revocation", `${askRole} serial ${askSerial} is revoked by ARK-${product} since ${revoked.revocationDate.toISOString()}`) && ok;
  } else {
    checks.pass("snp.crl.revocation", `${askRole} serial ${askSerial} is on none of the CRLs`);
  }
  return ok;
}
