/** Ending a round that cannot produce a model: the round and its experiment fail, saying why. */
import type { SqlExecutor } from "../../db/index.js";
import * as store from "./store.js";

export async function failRound(tx: SqlExecutor, exp: store.ExperimentRecord, round: store.RoundRecord, now: Date, reason: string): Promise<void> {
  await store.setRound(tx, exp.id, round.round, { state: "failed", reason, closedAt: now, finishedAt: now });
  await store.setExperimentState(tx, exp.id, { state: "failed", reason: `round ${round.round} failed: ${reason}`, now, finishedAt: now });
}
