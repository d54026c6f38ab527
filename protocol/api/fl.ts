/** Federated learning experiments, rounds and model versions (docs/fl.md). */
import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { Id, PropletId } from "../messages/common.js";
import { ConfidentialSpec } from "../messages/task.js";
import { ArtifactInput } from "./artifacts.js";
import { Cursor, Digest, Name, Tags, Tee, Time, TimeOrNull } from "./common.js";

const Weights = Type.Array(Type.Number(), { minItems: 1, maxItems: LIMITS.flMaxParams });
const Shape = Type.Array(Type.Integer({ minimum: 1, maximum: LIMITS.flMaxParams }), { minItems: 1, maxItems: 4 });

export const FL_AGGREGATIONS = ["fedavg", "secagg"] as const;
export const FL_STRAGGLER_POLICIES = ["wait", "close-at-k"] as const;
export const FL_DROPOUT_POLICIES = ["keep", "exclude"] as const;

export const FlExperimentCreate = Type.Object(
  {
    name: Name,
    /** The training client (a WASI command): reads the global model on stdin, writes its update on stdout. */
    workload: ArtifactInput,
    /** How the workload runs (default component: a preview2 command, so the data directory is granted read-only). */
    runtime: Type.Optional(Type.Union([Type.Literal("wasi-p1"), Type.Literal("component")])),
    /** Initial global model (version 0); `digest`, when given, must equal the digest of its canonical encoding. */
    model: Type.Object({ shape: Shape, weights: Weights, digest: Type.Optional(Digest) }, { additionalProperties: false }),
    rounds: Type.Integer({ minimum: 1, maximum: LIMITS.flMaxRounds }),
    /** Who trains: explicit proplets, or every live proplet matching a selector (at least `min`, a `fraction` of them per round). */
    participants: Type.Union([
      Type.Object({ proplets: Type.Array(PropletId, { minItems: 1, maxItems: LIMITS.flMaxParticipants, uniqueItems: true }) }, { additionalProperties: false }),
      Type.Object(
        {
          selector: Type.Object({ tags: Type.Optional(Tags), tee: Type.Optional(Tee) }, { additionalProperties: false }),
          min: Type.Integer({ minimum: 1, maximum: LIMITS.flMaxParticipants }),
          fraction: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
        },
        { additionalProperties: false },
      ),
    ]),
    /** Accepted updates a round needs to be aggregated (k of n). */
    k: Type.Integer({ minimum: 1, maximum: LIMITS.flMaxParticipants }),
    roundDeadlineMs: Type.Integer({ minimum: 1000, maximum: LIMITS.flMaxRoundDeadlineMs }),
    /** wait: until every participant answered or the deadline; close-at-k: as soon as k updates are accepted (the rest are stopped). Default wait. */
    stragglers: Type.Optional(Type.Union(FL_STRAGGLER_POLICIES.map((p) => Type.Literal(p)))),
    /** A participant without an accepted update in a round: keep inviting it (default), or exclude it from later rounds. */
    dropouts: Type.Optional(Type.Union(FL_DROPOUT_POLICIES.map((p) => Type.Literal(p)))),
    /**
     * fedavg (default): weighted by sample count, in the manager. secagg: secure aggregation
     * (docs/secure-aggregation.md): updates stay on the proplets, the manager learns only their sum.
     */
    aggregation: Type.Optional(Type.Union(FL_AGGREGATIONS.map((a) => Type.Literal(a)))),
    /** Secure aggregation's parameters (aggregation "secagg" only). */
    secagg: Type.Optional(
      Type.Object(
        {
          /** Participants needed at every step (default max(2, k)): the round survives n − threshold dropouts. */
          threshold: Type.Optional(Type.Integer({ minimum: 2, maximum: LIMITS.flMaxParticipants })),
          /** Each weight of an update is clipped to ±clip before it is quantized (default 16). */
          clip: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e6 })),
          /** The largest sample count a participant may weigh its update with (default 10 000). */
          maxSamples: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000 })),
          /** How long each of the four steps waits for the participants' answers (default 10 s). */
          stepTimeoutMs: Type.Optional(Type.Integer({ minimum: 500, maximum: 300_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    /** Only attested participants: runs need `tee`, and each update's receipt must be attested and name the update's digest. */
    attested: Type.Optional(Type.Boolean()),
    /**
     * The workload encrypted for a TEE (as on POST /tasks): the KBS releases its key only to an
     * attested proplet, whose receipts are then attested. Required when `attested` is true.
     */
    confidential: Type.Optional(ConfidentialSpec),
    /** Extra arguments and environment of every training run (hyperparameters). */
    args: Type.Optional(Type.Array(Type.String({ maxLength: LIMITS.argBytes }), { maxItems: 64 })),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,127}$" }), Type.String({ maxLength: LIMITS.envValueBytes }), { additionalProperties: false, maxProperties: 64 }),
    ),
    /** The participant's local data: a named volume of the proplet, granted read-only at `guest` (default /data). */
    data: Type.Optional(
      Type.Object(
        { volume: Type.String({ pattern: "^[a-z0-9][a-z0-9_-]{0,62}$" }), guest: Type.Optional(Type.String({ pattern: "^/[A-Za-z0-9._/-]{0,255}$" })) },
        { additionalProperties: false },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        { timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: LIMITS.maxTimeoutMs })), memoryBytes: Type.Optional(Type.Integer({ minimum: 65536, maximum: LIMITS.maxMemoryBytes })) },
        { additionalProperties: false },
      ),
    ),
    start: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type FlExperimentCreate = Static<typeof FlExperimentCreate>;

export const FL_EXPERIMENT_STATES = ["created", "running", "completed", "failed", "stopped"] as const;
export const FL_ROUND_STATES = ["opening", "training", "aggregating", "completed", "failed"] as const;
export const FL_UPDATE_STATES = ["pending", "accepted", "rejected", "missing"] as const;

const ModelRef = Type.Object({ version: Type.Integer(), digest: Type.String() });

export const FlUpdateView = Type.Object({
  propletId: Type.String(),
  taskId: Type.Union([Type.String(), Type.Null()]),
  runId: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union(FL_UPDATE_STATES.map((s) => Type.Literal(s))),
  /** Why it was rejected or missing (a stable code first: "update_wrong_shape: …"). */
  reason: Type.Union([Type.String(), Type.Null()]),
  digest: Type.Union([Type.String(), Type.Null()]),
  samples: Type.Union([Type.Integer(), Type.Null()]),
  attested: Type.Union([Type.Boolean(), Type.Null()]),
  finishedAt: TimeOrNull,
});
export type FlUpdateView = Static<typeof FlUpdateView>;

export const FlRound = Type.Object({
  round: Type.Integer(),
  state: Type.Union(FL_ROUND_STATES.map((s) => Type.Literal(s))),
  reason: Type.Union([Type.String(), Type.Null()]),
  baseModel: ModelRef,
  model: Type.Union([ModelRef, Type.Null()]),
  accepted: Type.Integer(),
  startedAt: Time,
  deadlineAt: Time,
  finishedAt: TimeOrNull,
  /** Milliseconds: opening (tasks created and queued), training (until the round closed), aggregation. */
  timings: Type.Object({ openMs: Type.Union([Type.Integer(), Type.Null()]), trainMs: Type.Union([Type.Integer(), Type.Null()]), aggregateMs: Type.Union([Type.Integer(), Type.Null()]) }),
  updates: Type.Array(FlUpdateView),
  /** Secure aggregation: the session, who is in the sum, who left and why, every refused message. */
  secagg: Type.Optional(
    Type.Union([
      Type.Null(),
      Type.Object({
        session: Type.String(),
        threshold: Type.Integer(),
        clip: Type.Number(),
        maxWeight: Type.Integer(),
        fractionBits: Type.Integer(),
        participants: Type.Array(Type.String()),
        survivors: Type.Union([Type.Array(Type.String()), Type.Null()]),
        dropped: Type.Array(Type.Object({ propletId: Type.String(), reason: Type.String() })),
        refusals: Type.Array(Type.Object({ from: Type.String(), reason: Type.String(), at: Type.String() })),
        failure: Type.Union([Type.String(), Type.Null()]),
      }),
    ]),
  ),
});
export type FlRound = Static<typeof FlRound>;

export const FlExperiment = Type.Object({
  id: Type.String(),
  name: Type.String(),
  state: Type.Union(FL_EXPERIMENT_STATES.map((s) => Type.Literal(s))),
  reason: Type.Union([Type.String(), Type.Null()]),
  aggregation: Type.String(),
  attested: Type.Boolean(),
  tee: Type.Union([Type.String(), Type.Null()]),
  rounds: Type.Integer(),
  k: Type.Integer(),
  roundDeadlineMs: Type.Integer(),
  stragglers: Type.String(),
  dropouts: Type.String(),
  workloadDigest: Type.String(),
  participants: Type.Array(Type.Object({ propletId: Type.String(), state: Type.String(), reason: Type.Union([Type.String(), Type.Null()]) })),
  /** The round in progress or the last one run (0 before the first). */
  currentRound: Type.Integer(),
  latestModel: ModelRef,
  createdAt: Time,
  startedAt: TimeOrNull,
  finishedAt: TimeOrNull,
  /** GET /fl/experiments/{id} only: every round so far, oldest first. */
  roundList: Type.Optional(Type.Array(FlRound)),
});
export type FlExperiment = Static<typeof FlExperiment>;

export const FlExperimentList = Type.Object({ items: Type.Array(FlExperiment), nextCursor: Type.Union([Type.String(), Type.Null()]) });
export type FlExperimentList = Static<typeof FlExperimentList>;
export const FlExperimentListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(FL_EXPERIMENT_STATES.map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);
export type FlExperimentListQuery = Static<typeof FlExperimentListQuery>;
export const FlExperimentParams = Type.Object({ id: Id });
export type FlExperimentParams = Static<typeof FlExperimentParams>;
export const FlModelParams = Type.Object({ id: Id, version: Type.Integer({ minimum: 0, maximum: LIMITS.flMaxRounds }) });
export type FlModelParams = Static<typeof FlModelParams>;

/** GET /fl/experiments/{id}/models/{version}: the weights, their digest, and the updates that produced them. */
export const FlModelVersion = Type.Object({
  experimentId: Type.String(),
  version: Type.Integer(),
  /** The round that produced it (null: the initial model). */
  round: Type.Union([Type.Integer(), Type.Null()]),
  digest: Type.String(),
  shape: Type.Array(Type.Integer()),
  weights: Type.Array(Type.Number()),
  samples: Type.Integer(),
  /** samples is null under secure aggregation: each participant's count was masked, only the total is known. */
  updates: Type.Array(Type.Object({ propletId: Type.String(), digest: Type.String(), samples: Type.Union([Type.Integer(), Type.Null()]) })),
  createdAt: Time,
});
export type FlModelVersion = Static<typeof FlModelVersion>;
