import { PropellerError } from "../protocol/errors.js";

/**
 * Errors of the OCI client. Digest mismatches and size overruns reuse the protocol's DigestError
 * ("digest_mismatch") and SizeLimitError ("too_large") so every artifact delivery path reports
 * them with the same codes.
 */

/** A reference string that does not follow the distribution grammar. */
export class OciReferenceError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("oci_reference_invalid", message, details);
  }
}

/** 401 (no or wrong credentials) or 403 (credentials valid, access denied). */
export class OciAuthError extends PropellerError {
  constructor(
    code: "oci_unauthorized" | "oci_denied",
    message: string,
    details?: Record<string, unknown>,
  ) {
    super(code, message, details);
  }
}

/** 404: the manifest (tag or digest) or the blob does not exist in that repository. */
export class OciNotFoundError extends PropellerError {
  constructor(code: "oci_manifest_unknown" | "oci_blob_unknown" | "oci_repository_unknown", message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** The registry answered with a status we cannot use (5xx, unexpected 4xx, bad upload flow). */
export class OciRegistryError extends PropellerError {
  readonly status: number | undefined;
  constructor(message: string, status: number | undefined, details?: Record<string, unknown>) {
    super("oci_registry_error", message, { ...details, ...(status === undefined ? {} : { status }) });
    this.status = status;
  }
}

/** Network-level failures: unreachable, timed out, cancelled, body cut short, redirect loops, refused plain HTTP. */
export class OciTransportError extends PropellerError {
  constructor(
    code: "oci_unreachable" | "oci_timeout" | "oci_cancelled" | "oci_truncated" | "oci_too_many_redirects" | "oci_insecure_refused",
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}

/** A manifest that is not valid JSON, not a known schema, or not the artifact kind we expected. */
export class OciManifestError extends PropellerError {
  constructor(code: "oci_manifest_invalid" | "oci_not_wasm", message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}
