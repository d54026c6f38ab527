/**
 * Updates held for secure aggregation: a training run's stdout, kept on the proplet (the manager
 * gets only its digest, protocol/fl.ts encodeHeld) until the run's SecAgg session masks it. Bounded
 * in count, bytes and age: a held update nobody asks for within `maxAgeMs` is forgotten, and when
 * full the oldest goes first. An update is taken once: masking it twice, under two sessions with
 * different survivors, could let the aggregator subtract one sum from the other.
 */
export interface HeldLimits {
  maxCount: number;
  maxBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_HELD_LIMITS: HeldLimits = { maxCount: 16, maxBytes: 16 * 1024 * 1024, maxAgeMs: 30 * 60 * 1000 };

interface Entry {
  bytes: Uint8Array;
  heldAt: number;
}

export class HeldUpdates {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(
    private readonly limits: HeldLimits = DEFAULT_HELD_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Keeps `bytes` for `runId`; returns the run ids evicted to make room. False when it can never fit. */
  hold(runId: string, bytes: Uint8Array): { held: boolean; evicted: string[] } {
    this.expire();
    if (bytes.byteLength > this.limits.maxBytes) return { held: false, evicted: [] };
    this.drop(runId);
    const evicted: string[] = [];
    while (this.entries.size >= this.limits.maxCount || this.total + bytes.byteLength > this.limits.maxBytes) {
      const oldest = this.entries.keys().next().value as string;
      this.drop(oldest);
      evicted.push(oldest);
    }
    this.entries.set(runId, { bytes: new Uint8Array(bytes), heldAt: this.now() });
    this.total += bytes.byteLength;
    return { held: true, evicted };
  }

  has(runId: string): boolean {
    this.expire();
    return this.entries.has(runId);
  }

  peek(runId: string): Uint8Array | undefined {
    this.expire();
    return this.entries.get(runId)?.bytes;
  }

  /** Removes and zeroes the held update (after it was masked, or when its session failed). */
  drop(runId: string): void {
    const e = this.entries.get(runId);
    if (!e) return;
    this.entries.delete(runId);
    this.total -= e.bytes.byteLength;
    e.bytes.fill(0);
  }

  private expire(): void {
    const cutoff = this.now() - this.limits.maxAgeMs;
    for (const [runId, e] of this.entries) {
      if (e.heldAt > cutoff) break; // insertion order is age order
      this.drop(runId);
    }
  }
}
