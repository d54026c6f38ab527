import { verifiedChainCache } from "./chain.js";
import { collateralDocumentCache, crlCache } from "./collateral.js";
import { pckExtensionCache } from "./verify.js";

/**
 * Every bounded cache the TDX verifier keeps, by name. All are keyed by SHA-256 of the exact bytes
 * they stand for (and of the key or root that verified them), hold only results that depend on
 * bytes alone, and never the outcome of a time check.
 */
export const tdxCaches = {
  chains: verifiedChainCache,
  pckExtensions: pckExtensionCache,
  collateralDocuments: collateralDocumentCache,
  crls: crlCache,
} as const;

/** Empty every cache (a benchmark's cold start). */
export function clearTdxCaches(): void {
  for (const c of Object.values(tdxCaches)) c.clear();
}

/** Hits, misses and sizes, for a benchmark or a metrics exporter. */
export function tdxCacheStats(): Record<keyof typeof tdxCaches, { hits: number; misses: number; size: number; capacity: number }> {
  const out = {} as Record<keyof typeof tdxCaches, { hits: number; misses: number; size: number; capacity: number }>;
  for (const [name, c] of Object.entries(tdxCaches) as [keyof typeof tdxCaches, (typeof tdxCaches)[keyof typeof tdxCaches]][]) {
    out[name] = { hits: c.hits, misses: c.misses, size: c.size, capacity: c.capacity };
  }
  return out;
}
