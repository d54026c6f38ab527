import { PropellerError } from "../../protocol/errors.js";

export type KbsClientErrorCode =
  | "kbs_denied" // 403: a policy refused; final, re-attesting does not help
  | "kbs_not_found" // 404: no such resource
  | "kbs_unauthorized" // 401 after re-attesting once
  | "kbs_rate_limited" // 429
  | "kbs_unavailable" // network error, timeout, 5xx
  | "kbs_protocol"; // the KBS answered something the protocol does not allow

/** The attestation agent's side of a KBS exchange failed (the KBS server's own errors are kbs/errors.ts KbsError); `detail` is the KBS's own explanation where it gave one. */
export class KbsClientError extends PropellerError {
  constructor(
    code: KbsClientErrorCode,
    message: string,
    readonly status?: number,
    readonly kbsDetail?: string,
  ) {
    super(code, message, { ...(status !== undefined ? { status } : {}), ...(kbsDetail ? { detail: kbsDetail } : {}) });
  }
}
