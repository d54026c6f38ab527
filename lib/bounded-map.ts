/**
 * A Map with a size bound and, optionally, an age bound and a weight bound (e.g. bytes), so every
 * cache and "seen recently" table in the product holds a known amount at most.
 *
 * Order is insertion order: `set` always makes an entry the newest; with `lru: true` a hit in `get`
 * does too (least-recently-used eviction), otherwise the oldest insert goes first. The entry a
 * `set` has just written is never evicted by that same `set`, so one oversized entry still fits.
 * Expired entries (older than `maxAgeMs`, or past their own `expiresAt`) are invisible and
 * dropped when met.
 */
export interface BoundedMapOptions<K, V> {
  /** Most entries held; the oldest (or least recently used) go beyond it. */
  maxEntries: number;
  /** Entries older than this (since their `set`) are gone. */
  maxAgeMs?: number;
  /** Bound on the sum of `weigh(value)` over all entries (e.g. bytes). */
  maxWeight?: number;
  weigh?: (value: V, key: K) => number;
  /** A hit in `get` makes the entry the newest (LRU); default false (first in, first out). */
  lru?: boolean;
  /** Called for every entry dropped to stay within a bound (not for `delete`, `clear` or expiry). */
  onEvict?: (key: K, value: V) => void;
  /** Clock, for tests. */
  now?: () => number;
}

interface Slot<V> {
  value: V;
  expiresAt: number;
  weight: number;
}

export class BoundedMap<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  private weight = 0;
  private readonly now: () => number;

  constructor(private readonly options: BoundedMapOptions<K, V>) {
    const { maxEntries, maxAgeMs, maxWeight } = options;
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`BoundedMap maxEntries must be a positive integer, not ${maxEntries}`);
    if (maxAgeMs !== undefined && !(maxAgeMs > 0)) throw new RangeError(`BoundedMap maxAgeMs must be positive, not ${maxAgeMs}`);
    if (maxWeight !== undefined && (!(maxWeight >= 0) || !options.weigh)) throw new RangeError("BoundedMap maxWeight needs a non-negative bound and a weigh function");
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.map.size;
  }

  /** Sum of the entries' weights (0 without `weigh`). */
  get totalWeight(): number {
    return this.weight;
  }

  get(key: K, now = this.now()): V | undefined {
    const slot = this.live(key, now);
    if (!slot) return undefined;
    if (this.options.lru) {
      this.map.delete(key);
      this.map.set(key, slot);
    }
    return slot.value;
  }

  /** Like `get`, without making the entry the newest. */
  peek(key: K, now = this.now()): V | undefined {
    return this.live(key, now)?.value;
  }

  has(key: K, now = this.now()): boolean {
    return this.live(key, now) !== undefined;
  }

  /**
   * Stores `value` as the newest entry, then evicts the oldest others until every bound holds.
   * `expiresAt` (epoch ms) ends this entry earlier than `maxAgeMs` would. Returns the evicted keys.
   */
  set(key: K, value: V, options: { expiresAt?: number; now?: number } = {}): K[] {
    const now = options.now ?? this.now();
    this.delete(key);
    const byAge = this.options.maxAgeMs !== undefined ? now + this.options.maxAgeMs : Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(byAge, options.expiresAt ?? Number.POSITIVE_INFINITY);
    const weight = this.options.weigh ? this.options.weigh(value, key) : 0;
    this.map.set(key, { value, expiresAt, weight });
    this.weight += weight;
    return this.evict(key);
  }

  delete(key: K): boolean {
    const slot = this.map.get(key);
    if (!slot) return false;
    this.map.delete(key);
    this.weight -= slot.weight;
    return true;
  }

  clear(): void {
    this.map.clear();
    this.weight = 0;
  }

  /** Drops every expired entry now (reads drop them lazily anyway). */
  prune(now = this.now()): void {
    for (const [key, slot] of this.map) if (slot.expiresAt <= now) this.delete(key);
  }

  /** Live entries, oldest first. */
  *entries(now = this.now()): IterableIterator<[K, V]> {
    for (const [key, slot] of [...this.map]) if (slot.expiresAt > now) yield [key, slot.value];
  }

  *keys(now = this.now()): IterableIterator<K> {
    for (const [key] of this.entries(now)) yield key;
  }

  *values(now = this.now()): IterableIterator<V> {
    for (const [, value] of this.entries(now)) yield value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private live(key: K, now: number): Slot<V> | undefined {
    const slot = this.map.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt <= now) {
      this.delete(key);
      return undefined;
    }
    return slot;
  }

  private over(): boolean {
    return this.map.size > this.options.maxEntries || (this.options.maxWeight !== undefined && this.weight > this.options.maxWeight);
  }

  private evict(keep: K): K[] {
    const evicted: K[] = [];
    if (!this.over()) return evicted;
    // Deleting while iterating a Map is safe (deleted entries are skipped): no copy per set.
    for (const [key, slot] of this.map) {
      if (!this.over()) break;
      if (key === keep) continue;
      this.delete(key);
      evicted.push(key);
      this.options.onEvict?.(key, slot.value);
    }
    return evicted;
  }
}

/**
 * A Set with a size bound (and optionally an age bound): "ids seen recently". `add` makes the id
 * the newest; past `maxEntries` the oldest are forgotten.
 */
export class BoundedSet<K> {
  private readonly map: BoundedMap<K, true>;

  constructor(options: { maxEntries: number; maxAgeMs?: number; now?: () => number }) {
    this.map = new BoundedMap<K, true>(options);
  }

  get size(): number {
    return this.map.size;
  }

  /** Adds `key` as the newest; true when it was not there before. */
  add(key: K): boolean {
    const fresh = !this.map.has(key);
    this.map.set(key, true);
    return fresh;
  }

  /** Adds `key` only when absent (its age is not renewed); true when it was absent. */
  addIfAbsent(key: K): boolean {
    if (this.map.has(key)) return false;
    this.map.set(key, true);
    return true;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}
