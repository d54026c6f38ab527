/**
 * The things the dashboard reads from the manager's database directly, because the REST API
 * has no bounded way to ask them (its task list carries every task's latest output, up to the
 * output cap each): each proplet's latest attested receipt, its recent liveness changes, and the
 * tasks with a cron schedule.
 * Both bounded; the routes check the `read` scope before calling them.
 */
import type { SqlExecutor } from "../../db/index.js";
import type { Attestation, LivenessChange } from "./pages/fleet.js";
import { recentLiveness } from "../store/proplets.js";

/** A proplet's runs looked through for its latest attested receipt. */
const RECENT_RUNS = 200;
/** Scheduled tasks listed at most (soonest tick first). */
export const MAX_SCHEDULED = 100;

/** Each proplet's latest attested receipt (checked by the manager, ok or not) among its recent runs. */
export async function latestAttestations(db: SqlExecutor): Promise<Map<string, Attestation>> {
  const { rows } = await db.query<{ proplet_id: string; id: string; task_id: string; finished_at: Date | string | null; ok: boolean | null }>(
    `SELECT p.id AS proplet_id, r.id, r.task_id, r.finished_at, r.ok
       FROM proplets p
       CROSS JOIN LATERAL (
         SELECT recent.id, recent.task_id, recent.finished_at, (recent.receipt_check->>'ok')::boolean AS ok
           FROM (SELECT id, task_id, finished_at, receipt_check FROM runs WHERE proplet_id = p.id ORDER BY created_at DESC LIMIT $1) recent
          WHERE recent.receipt_check->>'attested' = 'true'
          ORDER BY recent.finished_at DESC NULLS LAST
          LIMIT 1
       ) r`,
    [RECENT_RUNS],
  );
  return new Map(rows.map((r) => [r.proplet_id, { runId: r.id, taskId: r.task_id, at: r.finished_at === null ? null : new Date(r.finished_at).toISOString(), ok: r.ok === true }]));
}

/** Ids of the tasks with a cron schedule, soonest next tick first. */
export async function scheduledTaskIds(db: SqlExecutor): Promise<{ ids: string[]; more: boolean }> {
  const { rows } = await db.query<{ id: string }>("SELECT id FROM tasks WHERE next_tick_at IS NOT NULL ORDER BY next_tick_at, id LIMIT $1", [MAX_SCHEDULED + 1]);
  return { ids: rows.slice(0, MAX_SCHEDULED).map((r) => r.id), more: rows.length > MAX_SCHEDULED };
}

/** Liveness changes shown per proplet on the fleet page. */
export const FLEET_HISTORY = 5;

/** Each proplet's newest liveness changes (bounded: FLEET_HISTORY each). */
export async function fleetLiveness(db: SqlExecutor): Promise<Map<string, LivenessChange[]>> {
  const recent = await recentLiveness(db, FLEET_HISTORY);
  return new Map([...recent].map(([id, events]) => [id, events.map((e) => ({ event: e.event, reason: e.reason, at: e.at.toISOString() }))]));
}
