/**
 * C2SP signed-note: a text ending in a newline, a blank line, then one or more signature lines
 * `— <key name> base64(key ID ‖ signature)`. Ed25519 (type 0x01) signs the note text; the
 * timestamped witness cosignature (type 0x04, c2sp.org/tlog-cosignature) lives in cosignature.ts.
 *
 * Key ID = first 4 bytes (big-endian uint32) of SHA-256(key name ‖ 0x0A ‖ type ‖ public key).
 * Keys travel as the usual strings: verifier `<name>+<hex key ID>+base64(type ‖ public key)` and
 * signer `PRIVATE+KEY+<name>+<hex key ID>+base64(type ‖ 32-byte seed)`.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { PropellerError } from "../errors.js";
import { cosignedMessage, splitTimestampedSignature, timestampedSignature } from "./cosignature.js";

export const SIG_ED25519 = 0x01;
export const SIG_COSIGNATURE_V1 = 0x04;

/** Larger notes are refused before parsing (a checkpoint with 100 cosignatures is ~12 KiB). */
export const MAX_NOTE_BYTES = 64 * 1024;
/** The spec asks verifiers to accept at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

export class NoteError extends PropellerError {
  constructor(code: "note_malformed" | "note_unverified" | "note_key_malformed", message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

export interface NoteSignature {
  name: string;
  keyId: number;
  /** The bytes after the key ID. */
  signature: Buffer;
}

export interface ParsedNote {
  /** The signed text, final newline included. */
  text: string;
  signatures: NoteSignature[];
}

/** A key that can check one kind of signature line. */
export interface NoteVerifier {
  name: string;
  keyId: number;
  type: number;
  publicKey: Buffer;
  verify(text: Buffer, signature: Buffer): boolean;
}

export interface NoteSigner {
  name: string;
  keyId: number;
  type: number;
  publicKey: Buffer;
  sign(text: Buffer): Buffer;
}

const NAME_RE = /^[^\s+]+$/u;

export function isKeyName(name: string): boolean {
  return name.length > 0 && name.length <= 256 && NAME_RE.test(name);
}

export function keyId(name: string, type: number, publicKey: Uint8Array): number {
  const h = createHash("sha256").update(name, "utf8").update(Buffer.from([0x0a, type])).update(publicKey).digest();
  return h.readUInt32BE(0);
}

const hex8 = (id: number) => id.toString(16).padStart(8, "0");

function ed25519PublicKey(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
}

export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  const pub = createPublicKey(
    createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" }),
  );
  const x = pub.export({ format: "jwk" }).x!;
  return createPrivateKey({ key: { kty: "OKP", crv: "Ed25519", d: Buffer.from(seed).toString("base64url"), x }, format: "jwk" });
}

function rawPublic(key: KeyObject): Buffer {
  return Buffer.from(createPublicKey(key).export({ format: "jwk" }).x!, "base64url");
}

function checkType(type: number): void {
  if (type !== SIG_ED25519 && type !== SIG_COSIGNATURE_V1) throw new NoteError("note_key_malformed", `signature type ${type} is not supported (0x01 Ed25519, 0x04 cosignature/v1)`);
}

/**
 * Ed25519 verifier of type 0x01 (log keys: signs the note text) or 0x04 (witness cosignatures:
 * signs the cosignature/v1 message, the signature bytes carry the timestamp first).
 */
export function ed25519Verifier(name: string, publicKey: Uint8Array, type: number = SIG_ED25519): NoteVerifier {
  if (!isKeyName(name)) throw new NoteError("note_key_malformed", `key name ${JSON.stringify(name)} is empty or has a space or "+"`);
  if (publicKey.length !== 32) throw new NoteError("note_key_malformed", `an Ed25519 public key is 32 bytes, not ${publicKey.length}`);
  checkType(type);
  const key = ed25519PublicKey(publicKey);
  const check =
    type === SIG_ED25519
      ? (text: Buffer, signature: Buffer) => signature.length === 64 && verify(null, text, key, signature)
      : (text: Buffer, signature: Buffer) => {
          const parts = splitTimestampedSignature(signature);
          return parts !== null && verify(null, cosignedMessage(text, parts.timestamp), key, parts.signature);
        };
  return { name, type, keyId: keyId(name, type, publicKey), publicKey: Buffer.from(publicKey), verify: check };
}

/** Signer of type 0x01, or 0x04 (a cosigner: `now` gives the POSIX seconds it stamps). */
export function ed25519Signer(name: string, seed: Uint8Array, type: number = SIG_ED25519, now: () => number = () => Math.floor(Date.now() / 1000)): NoteSigner {
  if (!isKeyName(name)) throw new NoteError("note_key_malformed", `key name ${JSON.stringify(name)} is empty or has a space or "+"`);
  if (seed.length !== 32) throw new NoteError("note_key_malformed", `an Ed25519 private key seed is 32 bytes, not ${seed.length}`);
  checkType(type);
  const key = ed25519PrivateKey(seed);
  const publicKey = rawPublic(key);
  const doSign =
    type === SIG_ED25519
      ? (text: Buffer) => sign(null, text, key)
      : (text: Buffer) => {
          const ts = now();
          return timestampedSignature(ts, sign(null, cosignedMessage(text, ts), key));
        };
  return { name, type, keyId: keyId(name, type, publicKey), publicKey, sign: doSign };
}

/** The timestamp a cosignature/v1 signature carries (null when it is not one). */
export function cosignatureTimestamp(signature: Buffer): number | null {
  return splitTimestampedSignature(signature)?.timestamp ?? null;
}

/** A fresh Ed25519 key pair as signer and verifier strings. */
export function generateNoteKey(name: string, type: number = SIG_ED25519): { signerKey: string; verifierKey: string } {
  const { privateKey } = generateKeyPairSync("ed25519");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
  const signer = ed25519Signer(name, seed, type);
  return { signerKey: formatSignerKey(signer.name, type, seed), verifierKey: formatVerifierKey(signer) };
}

export function formatVerifierKey(key: Pick<NoteVerifier, "name" | "type" | "publicKey">): string {
  return `${key.name}+${hex8(keyId(key.name, key.type, key.publicKey))}+${Buffer.concat([Buffer.from([key.type]), key.publicKey]).toString("base64")}`;
}

export function formatSignerKey(name: string, type: number, seed: Uint8Array): string {
  const publicKey = ed25519Signer(name, seed, type).publicKey;
  return `PRIVATE+KEY+${name}+${hex8(keyId(name, type, publicKey))}+${Buffer.concat([Buffer.from([type]), seed]).toString("base64")}`;
}

/** Splits at the first n−1 "+" (base64 key material may itself contain "+"). */
function splitN(s: string, n: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (out.length < n - 1) {
    const at = rest.indexOf("+");
    if (at < 0) break;
    out.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  out.push(rest);
  return out;
}

const B64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeTypedKey(what: string, name: string, idHex: string, b64: string): { type: number; key: Buffer } {
  if (!isKeyName(name)) throw new NoteError("note_key_malformed", `${what}: bad key name`);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError("note_key_malformed", `${what}: the key ID must be 8 lowercase hex digits`);
  if (!B64_RE.test(b64)) throw new NoteError("note_key_malformed", `${what}: the key is not base64`);
  const bytes = Buffer.from(b64, "base64");
  if (bytes.length !== 33 || (bytes[0] !== SIG_ED25519 && bytes[0] !== SIG_COSIGNATURE_V1)) {
    throw new NoteError("note_key_malformed", `${what}: only Ed25519 keys (type 0x01 or 0x04, 32 bytes) are supported`);
  }
  return { type: bytes[0]!, key: bytes.subarray(1) };
}

/** Parses `<name>+<hex id>+base64(type ‖ key)`; the ID must match the key. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const parts = splitN(vkey.trim(), 3);
  if (parts.length !== 3) throw new NoteError("note_key_malformed", "a verifier key is <name>+<hex key ID>+<base64 key>");
  const [name, idHex, b64] = parts as [string, string, string];
  const { type, key } = decodeTypedKey("verifier key", name, idHex, b64);
  const verifier = ed25519Verifier(name, key, type);
  if (hex8(verifier.keyId) !== idHex) throw new NoteError("note_key_malformed", `verifier key: ID ${idHex} does not match the key (${hex8(verifier.keyId)})`);
  return verifier;
}

export function parseSignerKey(skey: string): NoteSigner {
  const parts = splitN(skey.trim(), 5);
  if (parts.length !== 5 || parts[0] !== "PRIVATE" || parts[1] !== "KEY") throw new NoteError("note_key_malformed", "a signer key is PRIVATE+KEY+<name>+<hex key ID>+<base64 key>");
  const [, , name, idHex, b64] = parts as [string, string, string, string, string];
  const { type, key } = decodeTypedKey("signer key", name, idHex, b64);
  const signer = ed25519Signer(name, key, type);
  if (hex8(signer.keyId) !== idHex) throw new NoteError("note_key_malformed", "signer key: the ID does not match the key");
  return signer;
}

/** Splits a note into its text and signature lines (nothing is verified here). */
export function parseNote(note: string | Uint8Array): ParsedNote {
  let text: string;
  if (typeof note === "string") text = note;
  else {
    if (note.length > MAX_NOTE_BYTES) throw new NoteError("note_malformed", `note is ${note.length} bytes; at most ${MAX_NOTE_BYTES}`);
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(note);
    } catch {
      throw new NoteError("note_malformed", "note is not valid UTF-8");
    }
  }
  if (Buffer.byteLength(text, "utf8") > MAX_NOTE_BYTES) throw new NoteError("note_malformed", `note is larger than ${MAX_NOTE_BYTES} bytes`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) throw new NoteError("note_malformed", "note contains a control character other than newline");
  const split = text.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("note_malformed", "note has no blank line before its signatures");
  const body = text.slice(0, split + 1);
  const sigBlock = text.slice(split + 2);
  if (!sigBlock.endsWith("\n")) throw new NoteError("note_malformed", "note does not end in a newline");
  const lines = sigBlock.slice(0, -1).split("\n");
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError("note_malformed", `note has ${lines.length} signatures; at most ${MAX_NOTE_SIGNATURES}`);
  const signatures = lines.map((line, i) => {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/u.exec(line);
    if (!m || !isKeyName(m[1]!)) throw new NoteError("note_malformed", `signature line ${i + 1} is not "— <name> <base64>"`);
    const raw = Buffer.from(m[2]!, "base64");
    if (raw.length < 5) throw new NoteError("note_malformed", `signature line ${i + 1} is too short`);
    return { name: m[1]!, keyId: raw.readUInt32BE(0), signature: raw.subarray(4) };
  });
  if (signatures.length === 0) throw new NoteError("note_malformed", "note has no signatures");
  return { text: body, signatures };
}

export function signatureLine(signer: NoteSigner, text: string | Buffer): string {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(signer.keyId);
  return `\u2014 ${signer.name} ${Buffer.concat([id, signer.sign(Buffer.from(text))]).toString("base64")}\n`;
}

export function formatSignature(sig: NoteSignature): string {
  const id = Buffer.alloc(4);
  id.writeUInt32BE(sig.keyId);
  return `\u2014 ${sig.name} ${Buffer.concat([id, sig.signature]).toString("base64")}\n`;
}

/**
 * `note` with `added` signatures: each replaces an existing signature of the same key (name and
 * key ID), or is appended. The text is unchanged (the caller checked the signatures cover it).
 */
export function mergeSignatures(note: string, added: readonly NoteSignature[]): string {
  const parsed = parseNote(note);
  const same = (a: NoteSignature, b: NoteSignature) => a.name === b.name && a.keyId === b.keyId;
  const kept = parsed.signatures.filter((s) => !added.some((a) => same(a, s)));
  return `${parsed.text}\n${[...kept, ...added].map(formatSignature).join("")}`;
}

/** Signs `text` (which must end in a newline) with each signer. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  if (!text.endsWith("\n")) throw new NoteError("note_malformed", "note text must end in a newline");
  return `${text}\n${signers.map((s) => signatureLine(s, text)).join("")}`;
}

/**
 * Verifies a note against known keys, as the spec requires: signatures of unknown keys (name and
 * ID not both matching) are ignored; a known key's signature that fails rejects the note; at
 * least one known signature must verify. Returns the note and the keys that verified.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): { note: ParsedNote; verifiedBy: NoteVerifier[] } {
  const parsed = parseNote(note);
  const text = Buffer.from(parsed.text, "utf8");
  const verifiedBy: NoteVerifier[] = [];
  for (const sig of parsed.signatures) {
    const key = verifiers.find((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (!key) continue;
    if (!key.verify(text, sig.signature)) throw new NoteError("note_unverified", `the signature of ${sig.name} (key ${hex8(sig.keyId)}) does not verify`);
    if (!verifiedBy.includes(key)) verifiedBy.push(key);
  }
  if (verifiedBy.length === 0) {
    throw new NoteError("note_unverified", `no signature from a known key (${verifiers.map((v) => `${v.name}+${hex8(v.keyId)}`).join(", ") || "none configured"}); signed by ${parsed.signatures.map((s) => `${s.name}+${hex8(s.keyId)}`).join(", ")}`);
  }
  return { note: parsed, verifiedBy };
}
