import { CollateralError } from "../errors.js";
import { topLevelMembers } from "./signed-json.js";
import { parseCrl } from "./collateral.js";
import type { TdxCollateral } from "./collateral.js";

/**
 * Sort collateral files by what they contain, so the CLI can take `--collateral FILE...` in any
 * order: TCB Info JSON (`tcbInfo` member), QE Identity JSON (`enclaveIdentity`), a PEM certificate
 * chain (the TCB Signing chain), and DER or PEM CRLs (the one issued by "Intel SGX Root CA" is the
 * root CRL, any other the PCK CRL). Two files of the same kind are an error.
 */
export function classifyCollateralFiles(files: { name: string; bytes: Uint8Array }[]): Partial<TdxCollateral> {
  const out: Partial<TdxCollateral> = {};
  const put = <K extends keyof TdxCollateral>(key: K, value: TdxCollateral[K], name: string): void => {
    if (out[key] !== undefined) throw new CollateralError(`two collateral files are ${key} (second: ${name})`);
    out[key] = value;
  };
  for (const { name, bytes } of files) {
    const head = Buffer.from(bytes.subarray(0, 64)).toString("latin1").trimStart();
    if (head.startsWith("{")) {
      const members = topLevelMembers(Buffer.from(bytes).toString("utf8"));
      if (members["tcbInfo"]) put("tcbInfo", bytes, name);
      else if (members["enclaveIdentity"]) put("qeIdentity", bytes, name);
      else throw new CollateralError(`${name}: JSON is neither TCB Info nor QE Identity`);
    } else if (head.startsWith("-----BEGIN CERTIFICATE-----")) {
      put("tcbSigningChain", Buffer.from(bytes).toString("latin1"), name);
    } else {
      const crl = parseCrl(bytes, name);
      if (/CN=Intel SGX Root CA(,|$)/.test(crl.issuer)) put("rootCaCrl", bytes, name);
      else put("pckCrl", bytes, name);
    }
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
