/**
 * The artifact seam: every way Wasm bytes reach a proplet implements `ArtifactSource`. Code above
 * it (`fetchArtifact`) checks the size bound and the content digest, whichever source delivered.
 */
import type { ArtifactLocation, ArtifactSourceKind } from "../../protocol/index.js";

export interface FetchOptions {
  /** Refuse more than this many bytes; sources enforce it while receiving, not after. */
  maxBytes: number;
  /** Aborts the fetch (a stop request, or the proplet closing). */
  signal: AbortSignal;
  /**
   * What the task says it is (fetchArtifact fills it in): sources may use it to find a cached copy
   * or to ask for the bytes by digest. fetchArtifact checks the digest of what they return anyway.
   */
  expected?: { digest: string; size?: number };
}

export interface ArtifactSource<K extends ArtifactSourceKind = ArtifactSourceKind> {
  readonly kind: K;
  fetch(location: Extract<ArtifactLocation, { kind: K }>, options: FetchOptions): Promise<Uint8Array>;
}
