/**
 * Failed authentications per client address: after `max` failures within `windowMs`, that address
 * gets 429 until the window ends. Bounded: at most `maxClients` addresses are tracked (expired
 * windows are dropped first, then the oldest; lib/bounded-map.ts).
 *
 * Not @fastify/rate-limit: that plugin counts every request of a route; here only failures count,
 * so a busy client with a valid credential is never slowed down.
 */
import { BoundedMap } from "../../lib/bounded-map.js";

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
  ) {
    this.clients = new BoundedMap({ maxEntries: maxClients });
  }

  /** Seconds until `client` may try again, or 0 when it is not blocked. */
  blockedFor(client: string, now = Date.now()): number {
    const entry = this.clients.get(client, now);
    if (!entry || entry.count < this.settings.max) return 0;
    return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
  }

  record(client: string, now = Date.now()): void {
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
