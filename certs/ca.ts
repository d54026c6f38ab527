import { randomBytes } from "node:crypto";
import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { webcrypto } from "node:crypto";
import { CertError } from "./errors.js";
import { CERT_MODE, KEY_MODE, writeFileAtomic } from "./files.js";
import { generateEcKey, importSigningKey, signingAlgorithm } from "./keys.js";
import { x509 } from "../lib/x509.js";

export const CA_CERT_FILE = "ca.pem";
export const CA_KEY_FILE = "ca.key";
/** The CA's revocation list (PEM) and the record it is generated from (crl.ts). */
export const CRL_FILE = "ca.crl";
export const REVOKED_FILE = "revoked.json";

/** A development CA lives ten years by default; leaves one year. */
export const DEFAULT_CA_LIFETIME_DAYS = 3650;
export const MAX_CA_LIFETIME_DAYS = 7300;
const DAY_MS = 86_400_000;
/** notBefore is set slightly in the past so that machines with a lagging clock accept new certs. */
export const BACKDATE_MS = 5 * 60_000;

export interface InitCaOptions {
  /** The CA's CN (default "Propeller development CA"). */
  name?: string;
  lifetimeDays?: number;
  /** Replace an existing CA. Every certificate it issued stops verifying. */
  force?: boolean;
}

export interface CaFiles {
  certPath: string;
  keyPath: string;
  certificate: x509.X509Certificate;
}

export interface LoadedCa {
  certificate: x509.X509Certificate;
  certPem: string;
  signingKey: webcrypto.CryptoKey;
  signingAlgorithm: { name: "ECDSA"; hash: "SHA-256" | "SHA-384" };
}

/** 16 random bytes, first byte in 0x01..0x7f: positive in DER and always 16 bytes long. */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString("hex");
}

export function checkLifetime(days: number, max: number): void {
  if (!Number.isInteger(days) || days < 1 || days > max) {
    throw new CertError("cert_lifetime_invalid", `lifetime must be a whole number of days between 1 and ${max}, got ${days}`);
  }
}

/**
 * Creates a development CA in `dir`: an EC P-384 key (`ca.key`, 0600) and a self-signed
 * certificate (`ca.pem`, 0644) with basicConstraints CA:true (critical, pathLen 0: it signs
 * leaves only), keyUsage keyCertSign+cRLSign (critical) and a subjectKeyIdentifier.
 * Refuses to replace an existing CA unless `force`.
 */
export async function initCa(dir: string, options: InitCaOptions = {}): Promise<CaFiles> {
  const name = options.name ?? "Propeller development CA";
  // eslint-disable-next-line no-control-regex -- control characters are exactly what a DN name must not hold
  if (name.length === 0 || name.length > 64 || /[\u0000-\u001f,+=<>#;"\\]/.test(name)) {
    throw new CertError("cert_name_invalid", "the CA name must be 1–64 printable characters without DN specials");
  }
  const lifetimeDays = options.lifetimeDays ?? DEFAULT_CA_LIFETIME_DAYS;
  checkLifetime(lifetimeDays, MAX_CA_LIFETIME_DAYS);
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  if (!options.force) {
    for (const path of [certPath, keyPath]) {
      if (await exists(path)) throw new CertError("ca_exists", `a CA already exists in ${dir} (${path}); refusing to replace it without force`, { path });
    }
  }

  const { keys, privateKeyPem, curve } = await generateEcKey("P-384");
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [name] }, { O: ["Propeller"] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + lifetimeDays * DAY_MS),
    keys,
    signingAlgorithm: signingAlgorithm(curve),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // Key first: a CA certificate without its key would be useless, a key without a cert is inert.
  await writeFileAtomic(keyPath, privateKeyPem, KEY_MODE, options.force === true);
  await writeFileAtomic(certPath, certificate.toString("pem") + "\n", CERT_MODE, options.force === true);
  // A replaced CA's revocation list would not verify under the new CA: TLS peers that load it
  // would then refuse every client. Start the new CA without one (writeCrl makes an empty one).
  await rm(join(dir, CRL_FILE), { force: true });
  await rm(join(dir, REVOKED_FILE), { force: true });
  return { certPath, keyPath, certificate };
}

/** Reads the CA in `dir` and checks that its key belongs to its certificate and that it is a CA. */
export async function loadCa(dir: string): Promise<LoadedCa> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await readFile(join(dir, CA_CERT_FILE), "utf8");
    keyPem = await readFile(join(dir, CA_KEY_FILE), "utf8");
  } catch {
    throw new CertError("ca_missing", `no CA in ${dir}: run \`propeller certs init --dir ${dir}\` first`);
  }
  let certificate: x509.X509Certificate;
  try {
    certificate = new x509.X509Certificate(certPem);
  } catch {
    throw new CertError("ca_invalid", `${join(dir, CA_CERT_FILE)} is not a PEM certificate`);
  }
  const bc = certificate.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new CertError("ca_invalid", `${join(dir, CA_CERT_FILE)} is not a CA certificate`);
  const { key, curve, spki } = await importSigningKey(keyPem);
  if (!spki.equals(Buffer.from(certificate.publicKey.rawData))) {
    throw new CertError("ca_invalid", `the CA key in ${dir} does not belong to its certificate`);
  }
  return { certificate, certPem, signingKey: key, signingAlgorithm: signingAlgorithm(curve) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
