/**
 * Failed authentications per client address: after `max` failures within `windowMs`, that address
 * gets 429 until the window ends. Bounded: at most `maxClients` addresses are tracked (expired
 * windows are dropped first, then the oldest; lib/bounded-map.ts).
 *
 * Not @fastify/rate-limit: that plugin counts every request of a route; here only failures count,
 * so a busy client with a valid credential is never slowed down.
 *
 * Across replicas: with a database, each failure is also counted in `auth_failures`, shared by
 * every manager on it, and the local window takes the shared count. The check before a request
 * stays local (no database round trip for honest traffic), so a client spreading guesses over N
 * replicas gets at most max + N − 1 tries per window in all (each replica learns the shared count
 * at the first failure it sees), not N × max.
 */
import { BoundedMap } from "../../lib/bounded-map.js";
import type { SqlExecutor } from "../../db/index.js";
import { countFailure } from "./failure-store.js";

export interface FailureLimitSettings {
  max: number;
  windowMs: number;
}

export class FailureLimiter {
  /** Each client's window expires at its resetAt; beyond maxClients the oldest window goes. */
  private readonly clients: BoundedMap<string, { count: number; resetAt: number }>;

  constructor(
    private readonly settings: FailureLimitSettings,
    private readonly maxClients = 10_000,
    /** Counts shared with the other managers on this database (none: this process only). */
    private readonly shared?: SqlExecutor,
  ) {
    this.clients = new BoundedMap({ maxEntries: maxClients });
  }

  /** Seconds until `client` may try again, or 0 when it is not blocked. */
  blockedFor(client: string, now = Date.now()): number {
    const entry = this.clients.get(client, now);
    if (!entry || entry.count < this.settings.max) return 0;
    return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
  }

  /**
   * Counts one failure of `client`, here and (with a database) in the shared table; resolves once
   * both know. A shared count the database cannot take leaves the local one, which still holds.
   */
  async record(client: string, now = Date.now()): Promise<void> {
    this.recordLocally(client, now);
    if (!this.shared) return;
    let shared: { count: number; resetAt: number };
    try {
      shared = await countFailure(this.shared, client, this.settings.windowMs);
    } catch {
      return;
    }
    const entry = this.clients.get(client, now);
    if (entry && shared.count > entry.count) {
      entry.count = shared.count;
      entry.resetAt = shared.resetAt;
      this.clients.set(client, entry, { expiresAt: shared.resetAt, now });
    }
  }

  private recordLocally(client: string, now: number): void {
    const entry = this.clients.get(client, now);
    if (entry) {
      entry.count++;
      return;
    }
    // Expired windows go before live ones when the table is full.
    if (this.clients.size >= this.maxClients) this.clients.prune(now);
    const resetAt = now + this.settings.windowMs;
    this.clients.set(client, { count: 1, resetAt }, { expiresAt: resetAt, now });
  }
}
