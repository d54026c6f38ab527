import type { SqlExecutor } from "../../db/index.js";
import type { Capabilities, PublicJwk } from "../../protocol/index.js";
import type { PropletRecord } from "../tasks/model.js";
import { propletFromRow, type Row } from "./rows.js";

const COLUMNS = "id, name, capabilities, alive, heartbeat_interval_ms, last_seen_at, connected_at, gone_reason, identity_key";

/** Registers (or refreshes) a proplet from its announce; `connected_at` moves only when it was not alive. */
export async function upsertAnnounced(
  db: SqlExecutor,
  p: { id: string; name: string; capabilities: Capabilities; identityKey?: PublicJwk | null; now: Date },
): Promise<{ proplet: PropletRecord; wasAlive: boolean }> {
  const before = await db.query<{ alive: boolean }>("SELECT alive FROM proplets WHERE id = $1", [p.id]);
  const wasAlive = Boolean(before.rows[0]?.alive);
  const { rows } = await db.query<Row>(
    `INSERT INTO proplets (id, name, capabilities, alive, last_seen_at, connected_at, gone_reason, identity_key)
     VALUES ($1, $2, $3::jsonb, true, $4, $4, NULL, $5::jsonb)
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, capabilities = EXCLUDED.capabilities, alive = true,
       identity_key = EXCLUDED.identity_key,
       last_seen_at = EXCLUDED.last_seen_at, gone_reason = NULL,
       connected_at = CASE WHEN proplets.alive THEN proplets.connected_at ELSE EXCLUDED.connected_at END
     RETURNING ${COLUMNS}`,
    [p.id, p.name, JSON.stringify(p.capabilities), p.now, p.identityKey ? JSON.stringify(p.identityKey) : null],
  );
  if (!wasAlive) await recordLiveness(db, p.id, "online", null, p.now);
  return { proplet: propletFromRow(rows[0]!), wasAlive };
}

/** Liveness changes kept per proplet (older ones are pruned as new ones come). */
export const LIVENESS_HISTORY = 50;

export interface LivenessEvent {
  event: "online" | "gone";
  reason: string | null;
  at: Date;
}

async function recordLiveness(db: SqlExecutor, id: string, event: LivenessEvent["event"], reason: string | null, at: Date): Promise<void> {
  await db.query("INSERT INTO proplet_liveness (proplet_id, event, reason, at) VALUES ($1, $2, $3, $4)", [id, event, reason, at]);
  await db.query(
    "DELETE FROM proplet_liveness WHERE proplet_id = $1 AND id < (SELECT min(id) FROM (SELECT id FROM proplet_liveness WHERE proplet_id = $1 ORDER BY id DESC LIMIT $2) newest)",
    [id, LIVENESS_HISTORY],
  );
}

/** A proplet's liveness changes, newest first. */
export async function livenessHistory(db: SqlExecutor, id: string, limit = LIVENESS_HISTORY): Promise<LivenessEvent[]> {
  const { rows } = await db.query<{ event: LivenessEvent["event"]; reason: string | null; at: Date | string }>(
    "SELECT event, reason, at FROM proplet_liveness WHERE proplet_id = $1 ORDER BY id DESC LIMIT $2",
    [id, limit],
  );
  return rows.map((r) => ({ event: r.event, reason: r.reason, at: new Date(r.at) }));
}

/** The newest `perProplet` liveness changes of every proplet, newest first (the dashboard's fleet). */
export async function recentLiveness(db: SqlExecutor, perProplet: number): Promise<Map<string, LivenessEvent[]>> {
  const { rows } = await db.query<{ proplet_id: string; event: LivenessEvent["event"]; reason: string | null; at: Date | string }>(
    `SELECT p.id AS proplet_id, l.event, l.reason, l.at FROM proplets p
       CROSS JOIN LATERAL (SELECT event, reason, at, id FROM proplet_liveness WHERE proplet_id = p.id ORDER BY id DESC LIMIT $1) l
      ORDER BY p.id, l.id DESC`,
    [perProplet],
  );
  const out = new Map<string, LivenessEvent[]>();
  for (const r of rows) out.set(r.proplet_id, [...(out.get(r.proplet_id) ?? []), { event: r.event, reason: r.reason, at: new Date(r.at) }]);
  return out;
}

/** Records a heartbeat of a live proplet; false when the proplet is unknown or marked gone. */
export async function touchAlive(db: SqlExecutor, id: string, now: Date, intervalMs?: number): Promise<boolean> {
  const { rowCount } = await db.query(
    "UPDATE proplets SET last_seen_at = $2, heartbeat_interval_ms = COALESCE($3, heartbeat_interval_ms) WHERE id = $1 AND alive",
    [id, now, intervalMs ?? null],
  );
  return rowCount > 0;
}

/** Marks a proplet gone; true only for the caller that actually changed it (so loss is handled once). */
export async function markGone(db: SqlExecutor, id: string, reason: string, now: Date = new Date()): Promise<boolean> {
  const { rowCount } = await db.query("UPDATE proplets SET alive = false, gone_reason = $2 WHERE id = $1 AND alive", [id, reason]);
  if (rowCount > 0) await recordLiveness(db, id, "gone", reason, now);
  return rowCount > 0;
}

export async function getProplet(db: SqlExecutor, id: string): Promise<PropletRecord | null> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM proplets WHERE id = $1`, [id]);
  return rows[0] ? propletFromRow(rows[0]) : null;
}

export async function listProplets(db: SqlExecutor, options: { aliveOnly?: boolean } = {}): Promise<PropletRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM proplets ${options.aliveOnly ? "WHERE alive" : ""} ORDER BY id`);
  return rows.map(propletFromRow);
}

/** Live proplets not heard from since `before`. */
export async function silentSince(db: SqlExecutor, before: Date): Promise<PropletRecord[]> {
  const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM proplets WHERE alive AND last_seen_at < $1`, [before]);
  return rows.map(propletFromRow);
}

export async function deleteProplet(db: SqlExecutor, id: string): Promise<boolean> {
  const { rowCount } = await db.query("DELETE FROM proplets WHERE id = $1", [id]);
  return rowCount > 0;
}

/** Proplets alive and gone, for the metrics export. */
export async function countProplets(db: SqlExecutor): Promise<{ alive: number; gone: number }> {
  const { rows } = await db.query<{ alive: boolean; n: number | string }>("SELECT alive, count(*) AS n FROM proplets GROUP BY alive");
  return { alive: Number(rows.find((r) => r.alive)?.n ?? 0), gone: Number(rows.find((r) => !r.alive)?.n ?? 0) };
}
