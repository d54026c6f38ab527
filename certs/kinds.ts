import { isValidPropletId } from "../protocol/topics.js";
import { CertError } from "./errors.js";

/**
 * The kinds of leaf certificate the development CA issues. The kind is written into the subject
 * as `OU=<kind>` so a relying party that can read the whole subject (the embedded broker, the
 * manager) knows what a certificate is for without guessing from its CN.
 */
export type CertKind = "server" | "proplet" | "manager-client" | "operator";
export const CERT_KINDS: readonly CertKind[] = ["server", "proplet", "manager-client", "operator"];

export function isCertKind(value: string): value is CertKind {
  return (CERT_KINDS as readonly string[]).includes(value);
}

/** The CN of the manager when it connects to the broker as a client (the ACL's `manager`). */
export const MANAGER_IDENTITY = "manager";

/**
 * Operators' CNs live in their own namespace. `:` can never appear in a proplet id
 * (PROPLET_ID_PATTERN), so an operator certificate can never stand for a proplet — not even on
 * a broker such as Mosquitto whose ACL sees only the CN.
 */
export const OPERATOR_CN_PREFIX = "operator:";

/** File names (and server/operator names): the same safe alphabet as proplet ids. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const RESERVED_FILE_NAMES = new Set(["ca"]);

export interface KindProfile {
  /** The extended key usage OIDs (serverAuth / clientAuth). */
  eku: "serverAuth" | "clientAuth";
  /** The CN for a certificate of this kind named `name`. */
  commonName(name: string): string;
  /** Whether SANs (DNS/IP) belong in it: only servers are reached by name. */
  sans: boolean;
}

export const KIND_PROFILES: Record<CertKind, KindProfile> = {
  server: { eku: "serverAuth", commonName: (name) => name, sans: true },
  proplet: { eku: "clientAuth", commonName: (name) => name, sans: false },
  "manager-client": { eku: "clientAuth", commonName: () => MANAGER_IDENTITY, sans: false },
  operator: { eku: "clientAuth", commonName: (name) => `${OPERATOR_CN_PREFIX}${name}`, sans: false },
};

/** Checks a name for a kind; throws CertError with the reason. */
export function checkName(kind: CertKind, name: string): void {
  if (!NAME_RE.test(name) || RESERVED_FILE_NAMES.has(name)) {
    throw new CertError("cert_name_invalid", `"${name}" is not a usable name: letters, digits, ".", "_", "-" (not first), at most 64, not "ca"`);
  }
  if (kind === "proplet") {
    if (!isValidPropletId(name)) throw new CertError("cert_name_invalid", `"${name}" is not a valid proplet id`);
    // The broker ACL gives the CN "manager" the manager's rights: no proplet may carry it.
    if (name === MANAGER_IDENTITY) throw new CertError("cert_name_invalid", `"${MANAGER_IDENTITY}" is reserved for the manager`);
  }
}
