/**
 * Failed authentications per client address: after `max` failures within `windowMs`, that address
 * gets 429 until the window ends. Bounded: at most `maxClients` addresses are tracked (expired
 * windows are dropped first, then the oldest).
 *
 * Not @fastify/rate-limit: that plugin counts every request of a route; here only failures count,
 * so a busy client with a valid credential is never slowed down.
 */
export interface FailureLimitSettings {
  max: number;
  windowMs: number;
}

export class FailureLimiter {
  private readonly clients = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly settings: FailureLimitSettings,
    private readonly maxClients = 10_000,
  ) {}

  /** Seconds until `client` may try again, or 0 when it is not blocked. */
  blockedFor(client: string, now = Date.now()): number {
    const entry = this.clients.get(client);
    if (!entry || entry.resetAt <= now || entry.count < this.settings.max) return 0;
    return Math.max(1, Math.ceil((entry.resetAt - now) / 1000));
  }

  record(client: string, now = Date.now()): void {
    const entry = this.clients.get(client);
    if (entry && entry.resetAt > now) {
      entry.count++;
      return;
    }
    if (entry) this.clients.delete(client);
    if (this.clients.size >= this.maxClients) this.evict(now);
    this.clients.set(client, { count: 1, resetAt: now + this.settings.windowMs });
  }

  private evict(now: number): void {
    for (const [client, entry] of this.clients) if (entry.resetAt <= now) this.clients.delete(client);
    while (this.clients.size >= this.maxClients) this.clients.delete(this.clients.keys().next().value!);
  }
}
