import type { Capabilities, ConfidentialSpec, Entrypoint, Grants, PublicJwk, RunError, RunLimits, RuntimeKind, TeeType } from "../../protocol/index.js";
import type { ReceiptCheck } from "../../protocol/api/index.js";
import type { RunState, TaskState } from "./state.js";
import type { SealedSecretEnv } from "./secrets.js";

export type OnPropletLoss = "fail" | "reschedule";

/**
 * Where a task's Wasm comes from: stored in the manager (by digest) and sent inline or in chunks
 * over MQTT, or fetched by the proplet over HTTP(S) or from an OCI registry.
 */
export interface ArtifactSpec {
  digest: string;
  /** Bytes, when known (stored and resolved OCI artifacts). */
  size: number | null;
  location: "inline" | "http" | "oci" | "mqtt";
  url?: string;
  /** OCI reference the proplet pulls. */
  reference?: string;
}

/** Everything a caller specified about a task, with every default filled in. */
export interface TaskSpec {
  runtime: RuntimeKind;
  artifact: ArtifactSpec;
  entrypoint: Entrypoint;
  args: string[];
  env: Record<string, string>;
  /**
   * Secret variables in the clear: only while a request is checked or a task.start is built, and on
   * rows written before secrets were sealed. Never returned by the API or logged.
   */
  secretEnv?: Record<string, string>;
  /** Secret variables as stored: sealed with the manager's secrets key (tasks/secrets.ts). */
  sealedSecretEnv?: SealedSecretEnv | null;
  /** base64 */
  stdin: string;
  limits: RunLimits;
  target: string | null;
  requirements: { tags: string[]; tee: TeeType | null };
  onPropletLoss: OnPropletLoss;
  /**
   * Encrypted workload: the artifact is the age ciphertext, its key a KBS resource released only to
   * an attested TEE of `tee` (which is also the placement requirement). Absent on older rows.
   */
  confidential?: ConfidentialSpec | null;
  /** Filesystem and network granted to the run (absent on older rows: none). */
  grants?: Grants | null;
  /** Queue order: 0 (lowest) .. 100 (highest), default 50 (manager/README.md, "Scheduling"). Absent on older rows. */
  priority?: number;
  /** Failed runs are retried with exponential backoff up to maxAttempts runs in all. Absent/null: no retry. */
  retry?: RetryPolicy | null;
  /** One run on every matching live proplet, aggregated (absent/false: one run on one proplet). */
  broadcast?: boolean;
  /** A cron schedule: every tick queues a new run. Absent/null: started only by request. */
  schedule?: CronSchedule | null;
  /** Set by federated rounds with secure aggregation (TaskStart.holdOutput); never by the API. */
  holdOutput?: "secagg";
}

export interface RetryPolicy {
  /** Runs in all, the first included (2 = one retry). */
  maxAttempts: number;
  /** Wait before the first retry; doubled for each further one. */
  backoffMs: number;
  /** Upper bound of one wait. */
  maxBackoffMs: number;
}

export interface CronSchedule {
  /** 5 fields (minute precision) or 6 (the first is seconds). */
  cron: string;
  /** IANA time zone the expression is read in. */
  timeZone: string;
  /** A tick missed while no manager ran: run it once on recovery, or skip it. */
  missed: "run-once" | "skip";
}

export interface TaskRecord {
  id: string;
  seq: number;
  name: string;
  state: TaskState;
  spec: TaskSpec;
  pendingReason: string | null;
  latestRunId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A run's outcome as stored (stdout / stderr as base64, exactly as the proplet sent them). */
export interface StoredResult {
  exitCode: number | null;
  returnValues: Array<number | string> | null;
  /** A component export's result as WAVE text (absent for other runs and older rows). */
  returnWave?: string;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  error: RunError | null;
}

export interface RunRecord {
  id: string;
  taskId: string;
  attempt: number;
  state: RunState;
  propletId: string | null;
  deliveries: number;
  receiptNonce: string;
  createdAt: Date;
  dispatchedAt: Date | null;
  lastDeliveryAt: Date | null;
  acceptedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  result: StoredResult | null;
  receipt: string | null;
  /** The manager's verdict on the receipt (null until a result arrived). */
  receiptCheck: ReceiptCheckRecord | null;
  /** A retry is not placed before this time (its backoff). */
  notBefore: Date | null;
  /** 1 for a started run, +1 for each automatic retry of it. */
  tryNumber: number;
  /** The broadcast fan-out this run belongs to (null: an ordinary run). */
  groupId: string | null;
  /** The only proplet this run may be placed on (broadcast). */
  pinnedProplet: string | null;
}

/** The manager's check of a run's receipt, as stored and as the REST API shows it (protocol/api). */
export type ReceiptCheckRecord = ReceiptCheck;

export interface PropletRecord {
  id: string;
  name: string;
  capabilities: Capabilities;
  alive: boolean;
  heartbeatIntervalMs: number | null;
  lastSeenAt: Date;
  connectedAt: Date;
  goneReason: string | null;
  /** The key that signs this proplet's unattested receipts, from its announce. */
  identityKey: PublicJwk | null;
}

/**
 * The environment a run is dispatched with: `env` and the secret variables (names never overlap).
 * Give it an opened spec (tasks/secrets.ts openSpec): sealed values are not in it.
 */
export function runEnv(spec: Pick<TaskSpec, "env" | "secretEnv">): Record<string, string> {
  return spec.secretEnv ? { ...spec.env, ...spec.secretEnv } : spec.env;
}
