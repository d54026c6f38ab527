/** TPM_ALG_ID values for the hash algorithms we understand (TPM 2.0 Part 2, table 9). */
export const TPM_ALG = {
  SHA1: 0x0004,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  SM3_256: 0x0012,
  RSASSA: 0x0014,
  RSAPSS: 0x0016,
  ECDSA: 0x0018,
  NULL: 0x0010,
} as const;

export type TpmHashName = "sha1" | "sha256" | "sha384" | "sha512" | "sm3_256";

interface HashInfo {
  name: TpmHashName;
  size: number;
  /** node:crypto digest name, or null where Node has none (SM3). */
  node: string | null;
}

const HASHES = new Map<number, HashInfo>([
  [TPM_ALG.SHA1, { name: "sha1", size: 20, node: "sha1" }],
  [TPM_ALG.SHA256, { name: "sha256", size: 32, node: "sha256" }],
  [TPM_ALG.SHA384, { name: "sha384", size: 48, node: "sha384" }],
  [TPM_ALG.SHA512, { name: "sha512", size: 64, node: "sha512" }],
  [TPM_ALG.SM3_256, { name: "sm3_256", size: 32, node: null }],
]);

export function hashInfo(alg: number): HashInfo | undefined {
  return HASHES.get(alg);
}

export function algName(alg: number): string {
  const hash = HASHES.get(alg);
  if (hash) return hash.name;
  for (const [name, value] of Object.entries(TPM_ALG)) if (value === alg) return name.toLowerCase();
  return `0x${alg.toString(16).padStart(4, "0")}`;
}
