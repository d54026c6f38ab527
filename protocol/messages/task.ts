import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { KBS_RESOURCE_URI_MAX_LENGTH, KBS_RESOURCE_URI_PATTERN } from "../kbs.js";
import { Base64, DigestString, Id, PropletId, RuntimeSchema, TeeTypeSchema, Timestamp, WasmValue, message } from "./common.js";

/** Where the proplet gets the Wasm bytes from. Every kind is checked against `ArtifactRef.digest`. */
export const ArtifactLocation = Type.Union([
  Type.Object({ kind: Type.Literal("inline"), data: Base64(LIMITS.inlineArtifactBytes) }, { additionalProperties: false }),
  Type.Object(
    { kind: Type.Literal("http"), url: Type.String({ pattern: "^https?://", maxLength: 2048 }) },
    { additionalProperties: false },
  ),
  Type.Object(
    { kind: Type.Literal("oci"), reference: Type.String({ minLength: 3, maxLength: 1024 }) },
    { additionalProperties: false },
  ),
  /**
   * Chunked delivery over MQTT (see messages/artifact.ts): the proplet asks the manager for chunks
   * on its own topics. `chunks` = ceil(size / chunkSize); every chunk but the last is chunkSize bytes.
   */
  Type.Object(
    {
      kind: Type.Literal("mqtt"),
      size: Type.Integer({ minimum: 1, maximum: LIMITS.maxArtifactBytes }),
      chunkSize: Type.Integer({ minimum: LIMITS.minArtifactChunkBytes, maximum: LIMITS.maxArtifactChunkBytes }),
      chunks: Type.Integer({ minimum: 1, maximum: Math.ceil(LIMITS.maxArtifactBytes / LIMITS.minArtifactChunkBytes) }),
    },
    { additionalProperties: false },
  ),
]);
export type ArtifactLocation = Static<typeof ArtifactLocation>;

export const ArtifactRef = Type.Object(
  {
    /** Digest of the bytes delivered (the ciphertext when `confidential` is set). */
    digest: DigestString,
    size: Type.Optional(Type.Integer({ minimum: 0 })),
    location: ArtifactLocation,
  },
  { additionalProperties: false },
);
export type ArtifactRef = Static<typeof ArtifactRef>;

/** Largest WAVE text of a component export call's arguments, and of its rendered result. */
export const WAVE_TEXT_BYTES = 64 * 1024;

/**
 * `wasi`: run `_start` (wasi-p1) or `wasi:cli/run` (component) as a command.
 * `export` with `inputs`: call a core module's export with numeric inputs (wasi-p1).
 * `export` with `args`: call a component's export with WAVE-encoded arguments (component), e.g.
 * `"hello", 42, [1, 2], {x: 1, y: 2}, some(3), ok("yes")`; `name` is the WIT name (`add`,
 * `iface#fn`, `ns:pkg/iface@1.0.0#fn`).
 */
export const Entrypoint = Type.Union([
  Type.Object({ kind: Type.Literal("wasi") }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal("export"),
      name: Type.String({ minLength: 1, maxLength: 256 }),
      inputs: Type.Array(WasmValue, { maxItems: 64 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      kind: Type.Literal("export"),
      name: Type.String({ minLength: 1, maxLength: 256 }),
      args: Type.String({ maxLength: WAVE_TEXT_BYTES }),
    },
    { additionalProperties: false },
  ),
]);
export type Entrypoint = Static<typeof Entrypoint>;

export const RunLimits = Type.Object(
  {
    timeoutMs: Type.Integer({ minimum: 1, maximum: LIMITS.maxTimeoutMs }),
    memoryBytes: Type.Integer({ minimum: 65536, maximum: LIMITS.maxMemoryBytes }),
    outputBytes: Type.Integer({ minimum: 0, maximum: LIMITS.maxOutputBytes }),
  },
  { additionalProperties: false },
);
export type RunLimits = Static<typeof RunLimits>;

/** Present when the artifact is age-encrypted and its key is held by a KBS. */
export const ConfidentialSpec = Type.Object(
  {
    kbsUrl: Type.String({ pattern: "^https?://", maxLength: 2048 }),
    /** `kbs:///<repo>/<type>/<tag>` */
    resource: Type.String({ pattern: KBS_RESOURCE_URI_PATTERN, maxLength: KBS_RESOURCE_URI_MAX_LENGTH }),
    plaintextDigest: DigestString,
    tee: TeeTypeSchema,
  },
  { additionalProperties: false },
);
export type ConfidentialSpec = Static<typeof ConfidentialSpec>;

/**
 * What a run may reach beyond its own memory. Nothing is granted by default: no filesystem, no
 * network, no environment beyond `env`.
 * - `dirs`: directories the guest sees at `guest`. The host side is always inside the proplet's
 *   work directory: a fresh empty directory per run, or the named `volume` (kept between runs on
 *   that proplet, shared by every task naming it). `readonly` forbids every write through it.
 * - `hosts`: `host:port` pairs the guest may connect to (wasi:sockets TCP, wasi:http outgoing
 *   requests). Names are matched exactly (case-insensitive); DNS lookups are allowed only for them.
 */
export const GuestPath = Type.String({ pattern: "^/(?:[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*)?$", maxLength: 256 });
export const Grants = Type.Object(
  {
    dirs: Type.Optional(
      Type.Array(
        Type.Object(
          {
            guest: GuestPath,
            readonly: Type.Optional(Type.Boolean()),
            volume: Type.Optional(Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$" })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 8 },
      ),
    ),
    hosts: Type.Optional(
      Type.Array(Type.String({ pattern: "^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*:[0-9]{1,5}$", maxLength: 260 }), {
        maxItems: 32,
        uniqueItems: true,
      }),
    ),
  },
  { additionalProperties: false },
);
export type Grants = Static<typeof Grants>;

export const TaskStart = message("task.start", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
  attempt: Type.Integer({ minimum: 1, maximum: 1000 }),
  runtime: RuntimeSchema,
  artifact: ArtifactRef,
  entrypoint: Entrypoint,
  args: Type.Array(Type.String({ maxLength: LIMITS.argBytes }), { maxItems: LIMITS.args }),
  env: Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" }), Type.String({ maxLength: LIMITS.envValueBytes }), {
    additionalProperties: false,
    maxProperties: LIMITS.envVars,
  }),
  stdin: Base64(LIMITS.stdinBytes),
  limits: RunLimits,
  /** Manager-chosen nonce that the run's receipt must carry (base64url, 16–64 bytes). */
  receiptNonce: Type.String({ pattern: "^[A-Za-z0-9_-]{22,86}$" }),
  confidential: Type.Optional(ConfidentialSpec),
  /** Filesystem and network the run may use; absent = none. */
  grants: Type.Optional(Grants),
  /**
   * `secagg`: the proplet keeps the run's stdout (a federated update) for secure aggregation and
   * reports only its digest (protocol/fl.ts encodeHeld); live stdout is not streamed.
   */
  holdOutput: Type.Optional(Type.Literal("secagg")),
});
export type TaskStart = Static<typeof TaskStart>;

export const TaskAccepted = message("task.accepted", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
});
export type TaskAccepted = Static<typeof TaskAccepted>;

export const TaskStop = message("task.stop", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
  reason: Type.String({ maxLength: 512 }),
});
export type TaskStop = Static<typeof TaskStop>;

export const RUN_OUTCOMES = ["completed", "failed", "stopped"] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

export const RunError = Type.Object(
  { code: Type.String({ maxLength: 64 }), message: Type.String({ maxLength: 4096 }) },
  { additionalProperties: false },
);
export type RunError = Static<typeof RunError>;

export const TaskResult = message("task.result", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
  outcome: Type.Union(RUN_OUTCOMES.map((o) => Type.Literal(o))),
  /** WASI exit code, or null when the guest did not exit (export call, trap, timeout). */
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  /** Return values of an export call, or null. */
  returnValues: Type.Union([Type.Array(WasmValue, { maxItems: 64 }), Type.Null()]),
  /** A component export's result as WAVE text (`ok(3)`, `{x: 1}`, …); absent for other runs. */
  returnWave: Type.Optional(Type.String({ maxLength: WAVE_TEXT_BYTES })),
  stdout: Base64(LIMITS.maxOutputBytes),
  stderr: Base64(LIMITS.maxOutputBytes),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  error: Type.Union([RunError, Type.Null()]),
  startedAt: Type.Union([Timestamp, Type.Null()]),
  finishedAt: Timestamp,
  /** Compact JWS receipt over this run (see docs/receipts.md), when the proplet signs receipts. */
  receipt: Type.Optional(Type.String({ maxLength: 64 * 1024, pattern: "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$" })),
});
export type TaskResult = Static<typeof TaskResult>;

/** Manager → proplet: the result of this run is stored; stop resending it. */
export const TaskResultAck = message("task.result-ack", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
});
export type TaskResultAck = Static<typeof TaskResultAck>;

export const TaskLog = message("task.log", {
  propletId: PropletId,
  taskId: Id,
  runId: Id,
  seq: Type.Integer({ minimum: 0 }),
  stream: Type.Union([Type.Literal("stdout"), Type.Literal("stderr"), Type.Literal("progress")]),
  data: Base64(LIMITS.taskLogDataBytes),
});
export type TaskLog = Static<typeof TaskLog>;
