import type { JSONWebKeySet } from "jose";
import { BoundedMap } from "../../lib/bounded-map.js";
import { currentJwks, remoteJwks, type RemoteJwks } from "../../lib/jwks.js";
import { messageOf } from "../../lib/errors.js";

/**
 * The token-signing keys of each KBS a confidential task names, from
 * `<kbs>/.well-known/jwks.json`: one jose remote key set per KBS (lib/jwks.ts: bounded fetch),
 * used for `ttlMs`. A key id the held set lacks triggers one refetch (the KBS rotated its key), at
 * most once per `minRefetchMs`. Bounded in KBSs, bytes and time.
 */
export class JwksCache {
  private readonly sets: BoundedMap<string, RemoteJwks>;

  constructor(
    private readonly options: { ttlMs?: number; minRefetchMs?: number; timeoutMs?: number; maxEntries?: number } = {},
  ) {
    this.sets = new BoundedMap({ maxEntries: options.maxEntries ?? 64 });
  }

  async get(kbsUrl: string, kid?: string): Promise<JSONWebKeySet> {
    const url = `${kbsUrl.replace(/\/+$/, "")}/.well-known/jwks.json`;
    let remote = this.sets.get(kbsUrl);
    if (!remote) {
      remote = remoteJwks(url, { timeoutMs: this.options.timeoutMs ?? 10_000, cacheMaxAgeMs: this.options.ttlMs ?? 5 * 60_000, cooldownMs: this.options.minRefetchMs ?? 5_000 });
      this.sets.set(kbsUrl, remote);
    }
    try {
      return await currentJwks(remote, url, kid);
    } catch (err) {
      throw new Error(`cannot fetch the KBS's keys (${messageOf(err)})`);
    }
  }
}
