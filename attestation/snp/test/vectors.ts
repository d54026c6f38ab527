import { readVector } from "../../../testing/vectors.js";

/** The SNP vectors of /work/shared/vectors/README.md, with the time T each is verified at. */
export const SNP = {
  gsgReport: () => readVector("snp/go-sev-guest/attestation.bin"),
  gsgVcek: () => readVector("snp/go-sev-guest/vcek.testcer"),
  trReport: () => readVector("snp/trustee/test-report.bin"),
  trVcek: () => readVector("snp/trustee/test-vcek.der"),
  vlekReport: () => readVector("snp/trustee/test-vlek-report.bin"),
  vlek: () => readVector("snp/trustee/test-vlek.der"),
  invalidLegacy: () => readVector("snp/trustee/test-vcek-invalid-legacy.der"),
  invalidNew: () => readVector("snp/trustee/test-vcek-invalid-new.der"),
  chain: (name: "milan" | "milan_vlek" | "genoa" | "genoa_vlek" | "turin_vcek" | "turin_vlek") => readVector(`amd-roots/go-sev-guest/ask_ark_${name}.pem`),
};

/** Times inside each vector's window (README: "T"). */
export const T = {
  gsg: new Date("2025-06-01T00:00:00Z"),
  trustee: new Date("2025-06-01T00:00:00Z"),
  vlek: new Date("2025-06-01T00:00:00Z"),
};

/** Flips one bit of a copy at `offset`. */
export function flip(bytes: Uint8Array, offset: number): Buffer {
  const out = Buffer.from(bytes);
  out[offset] = (out[offset] as number) ^ 0x01;
  return out;
}
