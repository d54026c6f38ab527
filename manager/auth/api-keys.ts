/** API keys: create (text returned once), list, revoke, ensure the configured bootstrap keys, check a presented key. */
import type { Logger } from "pino";
import type { Database } from "../../db/index.js";
import { ConfigError, ConflictError, NotFoundError, UnauthorizedError } from "../errors.js";
import { generateApiKey, hashKey, keyMatches, parseApiKey } from "./keys.js";
import type { Scope } from "./scopes.js";
import * as store from "./store.js";
import { messageOf } from "../../lib/errors.js";
import { BoundedMap } from "../../lib/bounded-map.js";

export type { ApiKeyRecord } from "./store.js";

/** More active keys than this is a leak, not a deployment: refused. */
export const MAX_ACTIVE_KEYS = 1000;
/** last_used_at is written at most this often per key (not one write per request). */
const TOUCH_EVERY_MS = 60_000;

export class ApiKeys {
  /** When each key's use was last recorded; bounded (a flood of distinct keys forgets the oldest). */
  private readonly touched = new BoundedMap<string, number>({ maxEntries: MAX_ACTIVE_KEYS * 2 });

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(name: string, scopes: Scope[]): Promise<{ key: string; record: store.ApiKeyRecord }> {
    if ((await store.countActive(this.db)) >= MAX_ACTIVE_KEYS) {
      throw new ConflictError("too_many_keys", `there are already ${MAX_ACTIVE_KEYS} active API keys; revoke unused ones first`);
    }
    const { key, keyId } = generateApiKey();
    const parsed = parseApiKey(key)!;
    await store.insertKey(this.db, { id: keyId, name, scopes, hash: hashKey(parsed), now: this.now() });
    this.log.info({ keyId, name, scopes }, "API key created");
    const found = await store.findForCheck(this.db, keyId);
    return { key, record: found!.record };
  }

  list(): Promise<store.ApiKeyRecord[]> {
    return store.listKeys(this.db);
  }

  async revoke(id: string): Promise<store.ApiKeyRecord> {
    const record = await store.revokeKey(this.db, id, this.now());
    if (!record) throw new NotFoundError("api_key_not_found", `no API key ${id}`);
    this.log.info({ keyId: id }, "API key revoked");
    return record;
  }

  /**
   * Stores the configured bootstrap keys (hash only). A key already present stays as it is: one an
   * operator revoked is not revived by a restart.
   */
  async ensure(keys: ReadonlyArray<{ name: string; key: string; scopes: Scope[] }>): Promise<void> {
    for (const k of keys) {
      const parsed = parseApiKey(k.key);
      if (!parsed) throw new ConfigError(`auth.bootstrapKeys "${k.name}": not a propeller API key (prop_<id>_<secret>)`);
      await store.insertKey(this.db, { id: parsed.keyId, name: k.name, scopes: k.scopes, hash: hashKey(parsed), now: this.now() });
      const found = await store.findForCheck(this.db, parsed.keyId);
      if (!found || !keyMatches(parsed, found.hash)) {
        throw new ConfigError(`auth.bootstrapKeys "${k.name}": key id ${parsed.keyId} is taken by a different key; generate a new one`);
      }
      if (found.record.revokedAt) this.log.warn({ keyId: parsed.keyId, name: k.name }, "bootstrap API key is revoked and will be refused; configure a new one");
    }
  }

  /** The key's record when `text` is a live key; UnauthorizedError otherwise (checked against the database every time). */
  async check(text: string): Promise<store.ApiKeyRecord> {
    const parsed = parseApiKey(text);
    if (!parsed) throw new UnauthorizedError("invalid_credentials", "the bearer credential is not a valid API key (prop_<id>_<secret>)");
    const found = await store.findForCheck(this.db, parsed.keyId);
    // Unknown id and wrong secret look the same from outside.
    if (!found || !keyMatches(parsed, found.hash)) throw new UnauthorizedError("invalid_credentials", "the API key is not known here");
    if (found.record.revokedAt) throw new UnauthorizedError("revoked_credentials", "the API key has been revoked; ask an admin for a new one");
    await this.touch(parsed.keyId);
    return found.record;
  }

  private async touch(id: string): Promise<void> {
    const now = this.now();
    const last = this.touched.get(id);
    if (last !== undefined && now.getTime() - last < TOUCH_EVERY_MS) return;
    this.touched.set(id, now.getTime());
    await store.touchKey(this.db, id, now).catch((err: unknown) => this.log.warn({ keyId: id, err: messageOf(err) }, "could not record API key use"));
  }
}
