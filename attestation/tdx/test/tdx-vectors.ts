import { readVector } from "../../../testing/vectors.js";
import type { TdxCollateral } from "../collateral.js";

/** The real TDX quotes in shared/vectors (README "Intel TDX quotes and collateral"). */
export const QUOTES = {
  spr: "tdx/go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
  v5: "tdx/go-tdx-guest/quote_v5_sample.dat",
  cos: "tdx/go-tdx-guest/cos-113-tdx-quote.dat",
  q4: "tdx/trustee/tdx_quote_4.dat",
  q5: "tdx/trustee/tdx_quote_5.dat",
  q6: "tdx/trustee/tdx_quote_6.dat",
} as const;

export const TCB_SIGNING_CHAIN = "intel-roots/tcb_signing_chain.pem";

/** The collateral sets the vectors README documents, with the time to verify them at. */
export function collateralSet(name: "2023" | "v5-2026" | "trustee-2025"): { collateral: TdxCollateral; now: Date } {
  const chain = readVector(TCB_SIGNING_CHAIN).toString("latin1");
  switch (name) {
    case "2023":
      return {
        now: new Date("2023-07-01T00:00:00Z"),
        collateral: {
          tcbInfo: readVector("tdx/go-tdx-guest/sample_tcbInfo_response"),
          qeIdentity: readVector("tdx/go-tdx-guest/sample_qeIdentity_response"),
          tcbSigningChain: chain,
          pckCrl: readVector("tdx/go-tdx-guest/pckcrl"),
          rootCaCrl: readVector("tdx/go-tdx-guest/rootcrl.der"),
        },
      };
    case "v5-2026":
      return {
        now: new Date("2026-02-03T00:00:00Z"),
        collateral: {
          tcbInfo: readVector("tdx/go-tdx-guest/sample_tcbinfo_response_v5"),
          qeIdentity: readVector("tdx/go-tdx-guest/sample_qeIdentity_response"),
          tcbSigningChain: chain,
        },
      };
    case "trustee-2025":
      return {
        now: new Date("2025-11-01T00:00:00Z"),
        collateral: {
          tcbInfo: readVector("tdx/trustee/tcbInfo.json"),
          qeIdentity: readVector("tdx/trustee/enclaveIdentity.json"),
          tcbSigningChain: chain,
        },
      };
  }
}

/** Names of the failed checks. */
export const failedNames = (checks: { name: string; ok: boolean }[]): string[] => checks.filter((c) => !c.ok).map((c) => c.name);
