/** A run's receipt as the REST API shows it: the proplet's compact JWS, and the manager's check of it. */
import { Type, type Static } from "@sinclair/typebox";
import { ExplainedCheckSchema } from "../check.js";

/** The manager's check of a run's receipt: a run is completed only when it passed. */
export const ReceiptCheck = Type.Object({
  ok: Type.Boolean(),
  attested: Type.Boolean(),
  reason: Type.String(),
  checks: Type.Array(ExplainedCheckSchema),
});
export type ReceiptCheck = Static<typeof ReceiptCheck>;

/** GET /tasks/{id}/runs/{runId}/receipt replies with the receipt itself (application/jose). */
export const RECEIPT_MEDIA_TYPE = "application/jose";
export const ReceiptReply = { type: "string", description: "compact JWS" } as const;
