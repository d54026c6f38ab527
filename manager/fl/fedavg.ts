/**
 * FedAvg (McMahan et al. 2017): the new global model is the average of the participants' models
 * weighted by their sample counts. Deterministic: updates are summed in ascending participant id
 * order, in float64, each weight as w_i × (n_i / N) accumulated left to right, so two aggregations
 * of the same updates give the same bits, hence the same model digest.
 */
export interface WeightedUpdate {
  propletId: string;
  samples: number;
  weights: readonly number[];
}

export function fedAvg(updates: readonly WeightedUpdate[]): { weights: number[]; samples: number } {
  if (updates.length === 0) throw new RangeError("FedAvg of no updates");
  const ordered = [...updates].sort((a, b) => (a.propletId < b.propletId ? -1 : a.propletId > b.propletId ? 1 : 0));
  const size = ordered[0]!.weights.length;
  let total = 0;
  for (const u of ordered) {
    if (u.weights.length !== size) throw new RangeError(`update of ${u.propletId} has ${u.weights.length} weights, expected ${size}`);
    if (!Number.isSafeInteger(u.samples) || u.samples < 1) throw new RangeError(`update of ${u.propletId} has no positive sample count`);
    total += u.samples;
  }
  const out = new Array<number>(size).fill(0);
  for (const u of ordered) {
    const share = u.samples / total;
    for (let i = 0; i < size; i++) out[i]! += u.weights[i]! * share;
  }
  // -0 has no JSON form of its own; canonical encodings write it as 0 anyway, keep them equal.
  for (let i = 0; i < size; i++) if (Object.is(out[i], -0)) out[i] = 0;
  return { weights: out, samples: total };
}
