import { constants, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { EvidenceFormatError } from "../errors.js";
import { TPM_ALG, algName, hashInfo, type TpmHashName } from "./alg.js";
import { TpmReader } from "./reader.js";
import { messageOf } from "../../lib/errors.js";
import type { CheckOutcome } from "../../protocol/index.js";

/** RSA signatures up to 4096-bit keys (TPM2B_PUBLIC_KEY_RSA holds at most MAX_RSA_KEY_BYTES). */
const MAX_RSA_SIG = 512;
/** TPM2B_ECC_PARAMETER: P-521 coordinates are 66 bytes. */
const MAX_ECC_PARAM = 66;
export const MAX_SIGNATURE_BYTES = 2 + 2 + 2 + MAX_RSA_SIG;

export type TpmtSignature =
  | { sigAlg: "rsassa" | "rsapss"; hashAlg: number; hash: TpmHashName; signature: Buffer }
  | { sigAlg: "ecdsa"; hashAlg: number; hash: TpmHashName; r: Buffer; s: Buffer };

/** Hashes we accept in a signature: SHA-1 is refused (collisions), SM3 has no Node implementation. */
const SIGNATURE_HASHES = new Set<TpmHashName>(["sha256", "sha384", "sha512"]);

/**
 * Parses a marshalled TPMT_SIGNATURE (the `signature` a TPM2_Quote returns, as tss-esapi
 * `Signature::marshall` and `tpm2_quote -s` write it). Only RSASSA, RSAPSS and ECDSA with
 * SHA-256/384/512 are accepted. Throws EvidenceFormatError on anything else or malformed bytes.
 */
export function parseSignature(bytes: Uint8Array): TpmtSignature {
  if (bytes.byteLength > MAX_SIGNATURE_BYTES) {
    throw new EvidenceFormatError(`TPMT_SIGNATURE is ${bytes.byteLength} bytes, more than ${MAX_SIGNATURE_BYTES}`);
  }
  const r = new TpmReader(Buffer.from(bytes), "TPMT_SIGNATURE");
  const sigAlg = r.u16("sigAlg");
  const hashAlg = r.u16("hash");
  const info = hashInfo(hashAlg);
  if (!info || !SIGNATURE_HASHES.has(info.name)) {
    throw new EvidenceFormatError(`TPMT_SIGNATURE: hash ${algName(hashAlg)} is not accepted (sha256, sha384, sha512)`);
  }
  let out: TpmtSignature;
  switch (sigAlg) {
    case TPM_ALG.RSASSA:
    case TPM_ALG.RSAPSS: {
      const signature = r.tpm2b("signature", MAX_RSA_SIG);
      if (signature.byteLength === 0) throw new EvidenceFormatError("TPMT_SIGNATURE: empty RSA signature");
      out = { sigAlg: sigAlg === TPM_ALG.RSASSA ? "rsassa" : "rsapss", hashAlg, hash: info.name, signature };
      break;
    }
    case TPM_ALG.ECDSA: {
      const rr = r.tpm2b("signatureR", MAX_ECC_PARAM);
      const ss = r.tpm2b("signatureS", MAX_ECC_PARAM);
      if (rr.byteLength === 0 || ss.byteLength === 0) throw new EvidenceFormatError("TPMT_SIGNATURE: empty ECDSA r or s");
      out = { sigAlg: "ecdsa", hashAlg, hash: info.name, r: rr, s: ss };
      break;
    }
    default:
      throw new EvidenceFormatError(`TPMT_SIGNATURE: signature algorithm ${algName(sigAlg)} is not supported (rsassa, rsapss, ecdsa)`);
  }
  r.end();
  return out;
}

/** Why it failed, or what was verified, for the check's detail. */
export type SignatureCheck = CheckOutcome;

const CURVE_BYTES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

/** Left-pads an ECDSA scalar to the curve size; a TPM may strip leading zero bytes. */
function pad(scalar: Buffer, size: number): Buffer | null {
  let s = scalar;
  while (s.byteLength > size && s[0] === 0) s = s.subarray(1);
  if (s.byteLength > size) return null;
  return Buffer.concat([Buffer.alloc(size - s.byteLength), s]);
}

/**
 * Verifies a TPMT_SIGNATURE over `message` (the TPMS_ATTEST bytes) with `key`. Key type must
 * match the scheme (RSA for RSASSA/RSAPSS, EC for ECDSA). Never throws for a bad signature or a
 * mismatched key: it returns ok=false with the reason.
 */
export function verifySignature(signature: TpmtSignature, message: Uint8Array, key: KeyObject): SignatureCheck {
  const what = `${signature.sigAlg}/${signature.hash}`;
  if (key.type !== "public") return { ok: false, detail: "the verification key is not a public key" };
  try {
    if (signature.sigAlg === "ecdsa") {
      if (key.asymmetricKeyType !== "ec") return { ok: false, detail: `${what} signature but the key is ${key.asymmetricKeyType}` };
      const curve = key.asymmetricKeyDetails?.namedCurve ?? "";
      const size = CURVE_BYTES[curve];
      if (!size) return { ok: false, detail: `unsupported curve ${curve}` };
      const r = pad(signature.r, size);
      const s = pad(signature.s, size);
      if (!r || !s) return { ok: false, detail: `ECDSA r or s longer than the ${curve} field` };
      const ok = cryptoVerify(signature.hash, message, { key, dsaEncoding: "ieee-p1363" }, Buffer.concat([r, s]));
      return { ok, detail: ok ? `${what} signature valid (${curve})` : `${what} signature does not verify with the key` };
    }
    if (key.asymmetricKeyType !== "rsa" && key.asymmetricKeyType !== "rsa-pss") {
      return { ok: false, detail: `${what} signature but the key is ${key.asymmetricKeyType}` };
    }
    const ok =
      signature.sigAlg === "rsassa"
        ? cryptoVerify(signature.hash, message, { key, padding: constants.RSA_PKCS1_PADDING }, signature.signature)
        : // TPMs use salt = digest size (spec 1.38+) or the maximum (older); AUTO accepts either.
          cryptoVerify(
            signature.hash,
            message,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO },
            signature.signature,
          );
    const bits = key.asymmetricKeyDetails?.modulusLength;
    return { ok, detail: ok ? `${what} signature valid (RSA-${bits})` : `${what} signature does not verify with the key` };
  } catch (err) {
    return { ok: false, detail: `${what} signature could not be checked: ${messageOf(err)}` };
  }
}
