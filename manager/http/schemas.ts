/**
 * TypeBox schemas of every REST body, parameter, query and reply (CONTRACT-CORE.md). They drive
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
  stdin: Type.Optional(Base64(LIMITS.stdinBytes)),
  limits: Type.Optional(LimitsInput),
  target: Type.Optional(Type.Union([PropletId, Type.Null()])),
  requirements: Type.Optional(Requirements),
  onPropletLoss: Type.Optional(OnPropletLoss),
  /** Encrypted workload: the artifact is the age ciphertext; the KBS releases its key to an attested `tee`. */
  confidential: Type.Optional(Type.Union([Type.Null(), ConfidentialSpec])),
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
      location: Type.Union([Type.Literal("inline"), Type.Literal("http")]),
      url: Type.Optional(Type.String()),
    }),
    entrypoint: Type.Union([
      Type.Object({ kind: Type.Literal("wasi") }),
      Type.Object({ kind: Type.Literal("export"), name: Type.String(), inputs: Type.Array(WasmValueOut) }),
    ]),
    args: Type.Array(Type.String()),
    env: Type.Record(Type.String(), Type.String()),
    stdin: Type.String(),
    limits: Type.Object({ timeoutMs: Type.Integer(), memoryBytes: Type.Integer(), outputBytes: Type.Integer() }),
    target: Type.Union([Type.String(), Type.Null()]),
    requirements: Type.Object({ tags: Type.Array(Type.String()), tee: Type.Union([Type.String(), Type.Null()]) }),
    onPropletLoss: OnPropletLoss,
    encrypted: Type.Boolean(),
    confidential: Type.Union([ConfidentialSpec, Type.Null()]),
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
