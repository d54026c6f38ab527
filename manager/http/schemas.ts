/**
 * TypeBox schemas of every REST body, parameter, query and reply (docs/api.md). They drive
 * request validation, response serialisation and the OpenAPI document.
 */
import { Type, type Static } from "@sinclair/typebox";
import {
  Entrypoint,
  Id,
  LIMITS,
  PropletId,
  RUNTIMES,
  TEE_TYPES,
  Grants,
  Capabilities,
  ConfidentialSpec,
  DIGEST_PATTERN,
} from "../../protocol/index.js";

/** base64 of the largest inline artifact, and the request body limit derived from it. */
export const INLINE_ARTIFACT_BASE64_CHARS = Math.ceil(LIMITS.inlineArtifactBytes / 3) * 4;
/**
 * A 4 MiB artifact in base64 plus room for the rest of a task (name, args, env, a small stdin):
 * 256 KiB. Nothing larger is read.
 */
export const BODY_LIMIT_BYTES = INLINE_ARTIFACT_BASE64_CHARS + 256 * 1024;
export const MAX_URL_LENGTH = 2048;

const Base64 = (maxBytes: number) => Type.String({ pattern: "^[A-Za-z0-9+/]*={0,2}$", maxLength: Math.ceil(maxBytes / 3) * 4 });
const Runtime = Type.Union(RUNTIMES.map((r) => Type.Literal(r)));
const Tee = Type.Union(TEE_TYPES.map((t) => Type.Literal(t)));
const Digest = Type.String({ pattern: DIGEST_PATTERN });
const Time = Type.String({ format: "date-time" });
const TimeOrNull = Type.Union([Time, Type.Null()]);

export const ErrorReply = Type.Object({ code: Type.String(), message: Type.String() });

export const ArtifactInput = Type.Union([
  Type.Object({ digest: Digest, inline: Base64(LIMITS.inlineArtifactBytes) }, { additionalProperties: false }),
  Type.Object({ digest: Digest, url: Type.String({ minLength: 8, maxLength: MAX_URL_LENGTH }) }, { additionalProperties: false }),
  /**
   * An OCI reference (`registry/repo:tag` or `registry/repo@sha256:…`). Without `digest` the manager
   * reads the manifest now and pins the task to it; with `digest` (the Wasm layer's) it asks no
   * registry and the proplet checks what it pulls against it (see manager/delivery/README.md).
   */
  Type.Object({ oci: Type.String({ minLength: 3, maxLength: 1024 }), digest: Type.Optional(Digest) }, { additionalProperties: false }),
  /**
   * Bytes the manager holds (inline here, or uploaded before with PUT /artifacts/{digest}) delivered
   * to the proplet in chunks over MQTT instead of inside task.start.
   */
  Type.Object({ digest: Digest, inline: Type.Optional(Base64(LIMITS.inlineArtifactBytes)), delivery: Type.Literal("mqtt") }, { additionalProperties: false }),
]);

const LimitsInput = Type.Object(
  {
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxTimeoutMs })),
    memoryBytes: Type.Optional(Type.Integer({ minimum: 65536, maximum: LIMITS.maxMemoryBytes })),
    outputBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.maxOutputBytes })),
  },
  { additionalProperties: false },
);

const Requirements = Type.Object(
  {
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: LIMITS.tags, uniqueItems: true })),
    tee: Type.Optional(Type.Union([Type.Null(), Tee])),
  },
  { additionalProperties: false },
);

const Args = Type.Array(Type.String({ maxLength: LIMITS.argBytes }), { maxItems: LIMITS.args });
const Env = Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" }), Type.String({ maxLength: LIMITS.envValueBytes }), {
  additionalProperties: false,
  maxProperties: LIMITS.envVars,
});
const OnPropletLoss = Type.Union([Type.Literal("fail"), Type.Literal("reschedule")]);
const Name = Type.String({ minLength: 1, maxLength: LIMITS.nameBytes });

/** Scheduling (issue 7; manager/README.md "Scheduling"). */
export const Priority = Type.Integer({ minimum: 0, maximum: 100, description: "queue order, 0 lowest .. 100 highest (default 50)" });
export const RetryPolicyInput = Type.Object(
  {
    maxAttempts: Type.Integer({ minimum: 1, maximum: 20, description: "runs in all, the first included" }),
    backoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 3_600_000, description: "wait before the first retry (default 1000), doubled per retry" })),
    maxBackoffMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, description: "upper bound of one wait (default 300000)" })),
  },
  { additionalProperties: false },
);
export const CronScheduleInput = Type.Object(
  {
    cron: Type.String({ minLength: 9, maxLength: 200, description: "5 fields, or 6 with seconds first" }),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "IANA time zone (default UTC)" })),
    missed: Type.Optional(Type.Union([Type.Literal("run-once"), Type.Literal("skip")], { description: "a tick missed while no manager ran (default skip)" })),
  },
  { additionalProperties: false },
);

export const taskFields = {
  name: Name,
  artifact: ArtifactInput,
  runtime: Type.Optional(Runtime),
  entrypoint: Type.Optional(Entrypoint),
  args: Type.Optional(Args),
  env: Type.Optional(Env),
  /**
   * Environment variables whose values are secret: delivered to the proplet with `env`, but never
   * returned by the API (a task shows their names in `secretEnvNames`) nor logged.
   */
  secretEnv: Type.Optional(Env),
  stdin: Type.Optional(Base64(LIMITS.stdinBytes)),
  limits: Type.Optional(LimitsInput),
  target: Type.Optional(Type.Union([PropletId, Type.Null()])),
  requirements: Type.Optional(Requirements),
  onPropletLoss: Type.Optional(OnPropletLoss),
  /** Encrypted workload: the artifact is the age ciphertext; the KBS releases its key to an attested `tee`. */
  confidential: Type.Optional(Type.Union([Type.Null(), ConfidentialSpec])),
  /** What the run may reach: granted directories (host side chosen by the proplet) and host:port pairs. */
  grants: Type.Optional(Type.Union([Type.Null(), Grants])),
  priority: Type.Optional(Priority),
  retry: Type.Optional(Type.Union([Type.Null(), RetryPolicyInput])),
  /** One run on every live proplet that fits the task, aggregated. */
  broadcast: Type.Optional(Type.Boolean()),
  schedule: Type.Optional(Type.Union([Type.Null(), CronScheduleInput])),
};

export const TaskCreate = Type.Object(
  { ...taskFields, start: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export type TaskCreate = Static<typeof TaskCreate>;

/** Any subset of a task's fields (at least one); the same field schemas as TaskCreate. */
export const TaskPatch = Type.Partial(Type.Object(taskFields), { additionalProperties: false, minProperties: 1 });
export type TaskPatch = Static<typeof TaskPatch>;

const WasmValueOut = Type.Union([Type.Number(), Type.String()]);

export const RunResult = Type.Object({
  exitCode: Type.Union([Type.Integer(), Type.Null()]),
  returnValues: Type.Union([Type.Array(WasmValueOut), Type.Null()]),
  /** A component export's result as WAVE text. */
  returnWave: Type.Optional(Type.String()),
  stdout: Type.String(),
  stderr: Type.String(),
  stdoutBase64: Type.String(),
  stderrBase64: Type.String(),
  stdoutTruncated: Type.Boolean(),
  stderrTruncated: Type.Boolean(),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()]),
});

const RUN_STATE_VALUES = ["queued", "scheduled", "running", "completed", "failed", "stopped"] as const;
const TASK_STATE_VALUES = ["pending", "scheduled", "running", "completed", "failed", "stopped"] as const;
export const TaskStateSchema = Type.Union(TASK_STATE_VALUES.map((s) => Type.Literal(s)));

export const Run = Type.Object(
  {
    id: Type.String(),
    taskId: Type.String(),
    attempt: Type.Integer(),
    state: Type.Union(RUN_STATE_VALUES.map((s) => Type.Literal(s))),
    propletId: Type.Union([Type.String(), Type.Null()]),
    deliveries: Type.Integer(),
    createdAt: Time,
    dispatchedAt: TimeOrNull,
    acceptedAt: TimeOrNull,
    startedAt: TimeOrNull,
    finishedAt: TimeOrNull,
    result: Type.Union([RunResult, Type.Null()]),
    /** The proplet's signed receipt (compact JWS), when it sent one. */
    receipt: Type.Union([Type.String(), Type.Null()]),
    /** A running daemon's URL (wasi-http), as its proplet reported it. */
    endpoint: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    /** The manager's check of that receipt: a run is completed only when it passed. */
    receiptCheck: Type.Union([
      Type.Object({ ok: Type.Boolean(), attested: Type.Boolean(), reason: Type.String(), checks: Type.Array(Type.Object({ name: Type.String(), ok: Type.Boolean(), detail: Type.String() })) }),
      Type.Null(),
    ]),
  },
);
export type Run = Static<typeof Run>;

export const Task = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    state: TaskStateSchema,
    runtime: Runtime,
    artifact: Type.Object({
      digest: Type.String(),
      size: Type.Union([Type.Integer(), Type.Null()]),
      location: Type.Union([Type.Literal("inline"), Type.Literal("http"), Type.Literal("oci"), Type.Literal("mqtt")]),
      url: Type.Optional(Type.String()),
      /** OCI: the reference the proplet pulls (pinned to the manifest digest when the manager resolved it). */
      reference: Type.Optional(Type.String()),
    }),
    entrypoint: Type.Union([
      Type.Object({ kind: Type.Literal("wasi") }),
      Type.Object({ kind: Type.Literal("export"), name: Type.String(), inputs: Type.Array(WasmValueOut) }),
      Type.Object({ kind: Type.Literal("export"), name: Type.String(), args: Type.String() }),
    ]),
    args: Type.Array(Type.String()),
    env: Type.Record(Type.String(), Type.String()),
    /** Names of the task's secret environment variables; their values are never returned. */
    secretEnvNames: Type.Array(Type.String()),
    stdin: Type.String(),
    limits: Type.Object({ timeoutMs: Type.Integer(), memoryBytes: Type.Integer(), outputBytes: Type.Integer() }),
    target: Type.Union([Type.String(), Type.Null()]),
    requirements: Type.Object({ tags: Type.Array(Type.String()), tee: Type.Union([Type.String(), Type.Null()]) }),
    onPropletLoss: OnPropletLoss,
    encrypted: Type.Boolean(),
    confidential: Type.Union([ConfidentialSpec, Type.Null()]),
    grants: Type.Optional(Type.Union([Grants, Type.Null()])),
    pendingReason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Time,
    updatedAt: Time,
    latestRun: Type.Union([Run, Type.Null()]),
    priority: Type.Optional(Type.Integer()),
    retry: Type.Optional(Type.Union([Type.Object({ maxAttempts: Type.Integer(), backoffMs: Type.Integer(), maxBackoffMs: Type.Integer() }), Type.Null()])),
    broadcast: Type.Optional(Type.Boolean()),
    schedule: Type.Optional(Type.Union([Type.Object({ cron: Type.String(), timeZone: Type.String(), missed: Type.String() }), Type.Null()])),
  },
);
export type Task = Static<typeof Task>;

export const TaskList = Type.Object({ items: Type.Array(Task), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export const RunList = Type.Object({ items: Type.Array(Run) });

export const Proplet = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    alive: Type.Boolean(),
    capabilities: Capabilities,
    running: Type.Integer(),
    lastSeenAt: Time,
    connectedAt: Time,
  },
);
export type Proplet = Static<typeof Proplet>;
export const PropletList = Type.Object({ items: Type.Array(Proplet) });

export const TaskIdParams = Type.Object({ id: Id });
export const RunParams = Type.Object({ id: Id, runId: Id });
export const PropletParams = Type.Object({ id: PropletId });
export const ListQuery = Type.Object(
  {
    state: Type.Optional(TaskStateSchema),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
    cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,64}$" })),
  },
  { additionalProperties: false },
);
export const DeleteQuery = Type.Object({ force: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

export const Health = Type.Object({
  status: Type.Union([Type.Literal("ok"), Type.Literal("degraded")]),
  database: Type.Union([Type.Literal("ok"), Type.Literal("unavailable")]),
  mqtt: Type.Union([Type.Literal("ok"), Type.Literal("disconnected")]),
  counters: Type.Record(Type.String(), Type.Integer()),
});

/** API keys (admin scope). The key text appears once, in the reply to its creation; the hash never. */
const ScopeSchema = Type.Union([Type.Literal("read"), Type.Literal("submit"), Type.Literal("admin")]);
export const ApiKeyCreate = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: 3, uniqueItems: true }),
  },
  { additionalProperties: false },
);
export type ApiKeyCreate = Static<typeof ApiKeyCreate>;
export const ApiKey = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(ScopeSchema),
  createdAt: Time,
  lastUsedAt: TimeOrNull,
  revokedAt: TimeOrNull,
});
export const ApiKeyCreated = Type.Object({
  ...ApiKey.properties,
  key: Type.String({ description: "the key text: shown only in this reply, store it now" }),
});
export const ApiKeyList = Type.Object({ items: Type.Array(ApiKey) });
export const ApiKeyParams = Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9-]{12,64}$" }) });
/** An API key request is a name and a few scopes: a small body limit. */
export const API_KEY_BODY_LIMIT_BYTES = 4096;
