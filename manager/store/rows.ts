/** Row ↔ record mapping shared by the store modules (PostgreSQL and PGlite return the same shapes). */
import type { PropletRecord, RunRecord, TaskRecord } from "../tasks/model.js";

import { columnDate as date, columnDateOrNull as dateOrNull, columnJson as json, type Row } from "../../db/index.js";

export type { Row };

export function taskFromRow(r: Row): TaskRecord {
  return {
    id: String(r.id),
    seq: Number(r.seq),
    name: String(r.name),
    state: r.state as TaskRecord["state"],
    spec: json(r.spec),
    pendingReason: (r.pending_reason as string | null) ?? null,
    latestRunId: (r.latest_run_id as string | null) ?? null,
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function runFromRow(r: Row): RunRecord {
  return {
    id: String(r.id),
    taskId: String(r.task_id),
    attempt: Number(r.attempt),
    state: r.state as RunRecord["state"],
    propletId: (r.proplet_id as string | null) ?? null,
    deliveries: Number(r.deliveries),
    receiptNonce: String(r.receipt_nonce),
    createdAt: date(r.created_at),
    dispatchedAt: dateOrNull(r.dispatched_at),
    lastDeliveryAt: dateOrNull(r.last_delivery_at),
    acceptedAt: dateOrNull(r.accepted_at),
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
    result: r.result === null || r.result === undefined ? null : json(r.result),
    receipt: (r.receipt as string | null) ?? null,
    receiptCheck: r.receipt_check === null || r.receipt_check === undefined ? null : json(r.receipt_check),
    notBefore: dateOrNull(r.not_before),
    tryNumber: r.try_number === undefined || r.try_number === null ? 1 : Number(r.try_number),
    groupId: (r.group_id as string | null | undefined) ?? null,
    pinnedProplet: (r.pinned_proplet as string | null | undefined) ?? null,
  };
}

export function propletFromRow(r: Row): PropletRecord {
  return {
    id: String(r.id),
    name: String(r.name),
    capabilities: json(r.capabilities),
    alive: Boolean(r.alive),
    heartbeatIntervalMs: r.heartbeat_interval_ms === null ? null : Number(r.heartbeat_interval_ms),
    lastSeenAt: date(r.last_seen_at),
    connectedAt: date(r.connected_at),
    goneReason: (r.gone_reason as string | null) ?? null,
    identityKey: r.identity_key === null || r.identity_key === undefined ? null : json(r.identity_key),
  };
}
