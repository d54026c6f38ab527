import { Type, type Static } from "@sinclair/typebox";
import { DigestString, Id, PropletId, TeeTypeSchema, Timestamp, WasmValue } from "../messages/common.js";

/** JOSE `typ` of a receipt; verifiers refuse any other (no confusion with other JWS/JWTs). */
export const RECEIPT_TYP = "propeller-receipt+jws";
export const RECEIPT_ALGS = ["ES256", "EdDSA"] as const;

export const ReceiptOutput = Type.Object(
  {
    /** Digests of the exact captured bytes (after truncation, if any). */
    stdout: DigestString,
    stderr: DigestString,
    stdoutTruncated: Type.Boolean(),
    stderrTruncated: Type.Boolean(),
    exitCode: Type.Union([Type.Integer(), Type.Null()]),
    returnValues: Type.Union([Type.Array(WasmValue, { maxItems: 64 }), Type.Null()]),
    errorCode: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
    /** sha256 of a component export's WAVE result text (present only when the run returned one). */
    returnWave: Type.Optional(DigestString),
  },
  { additionalProperties: false },
);
export type ReceiptOutput = Static<typeof ReceiptOutput>;

/** Payload of a receipt JWS (docs/receipts.md). */
export const ReceiptClaims = Type.Object(
  {
    receiptVersion: Type.Literal(1),
    taskId: Id,
    runId: Id,
    /** The manager's nonce from `task.start`: binds the receipt to this dispatch (no replay). */
    nonce: Type.String({ pattern: "^[A-Za-z0-9_-]{22,86}$" }),
    propletId: PropletId,
    /** The TEE that attested the signing key, or null for an unattested run. */
    tee: Type.Union([TeeTypeSchema, Type.Null()]),
    attested: Type.Boolean(),
    workload: Type.Object(
      { plaintext: DigestString, ciphertext: Type.Union([DigestString, Type.Null()]) },
      { additionalProperties: false },
    ),
    /** sha256 of the JCS of {entrypoint, args, env, stdin[, grants]} as dispatched. */
    inputDigest: DigestString,
    output: ReceiptOutput,
    outcome: Type.Union([Type.Literal("completed"), Type.Literal("failed"), Type.Literal("stopped")]),
    startedAt: Type.Union([Timestamp, Type.Null()]),
    finishedAt: Timestamp,
    /** The EAR attestation token that binds the signing key to the TEE (attested runs). */
    earToken: Type.Union([Type.String({ maxLength: 32 * 1024 }), Type.Null()]),
    iat: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ReceiptClaims = Static<typeof ReceiptClaims>;
