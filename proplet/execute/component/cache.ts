/**
 * Transpiled components on disk, keyed by the component's sha256, bounded in entries and bytes
 * (least recently used goes first). Transpiling costs 0.2–4 s; a hit costs a few reads.
 *
 * Layout: `<dir>/<hex digest>/{component.js, world.wit, cores.json, *.wasm}`. An entry is written
 * into a temporary directory and renamed into place, so a reader never sees half an entry; a
 * damaged entry (a file missing) reads as a miss and is replaced. Entries hold only what jco
 * derived from a public artifact: secret (confidential) components are never given to the cache.
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { TranspiledFiles } from "./protocol.js";
import { messageOf } from "../../../lib/errors.js";

export interface TranspileCacheOptions {
  dir: string;
  maxEntries?: number;
  maxBytes?: number;
  logger?: Logger;
}

const CORE_NAME = /^[A-Za-z0-9._-]{1,128}\.wasm$/;

export class TranspileCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  private ready: Promise<void> | undefined;
  /** Serialises writes and evictions (reads need no lock: entries appear by rename). */
  private writing: Promise<void> = Promise.resolve();
  private readonly counts = { hits: 0, misses: 0 };

  /** Lookups that found a transpiled component, and those that did not (metrics). */
  stats(): { hits: number; misses: number } {
    return { ...this.counts };
  }

  constructor(private readonly options: TranspileCacheOptions) {
    this.maxEntries = options.maxEntries ?? 64;
    this.maxBytes = options.maxBytes ?? 512 * 1024 * 1024;
  }

  static key(component: Uint8Array): string {
    return createHash("sha256").update(component).digest("hex");
  }

  private init(): Promise<void> {
    this.ready ??= mkdir(this.options.dir, { recursive: true }).then(() => undefined);
    return this.ready;
  }

  async get(key: string): Promise<TranspiledFiles | null> {
    await this.init();
    const dir = join(this.options.dir, key);
    try {
      const names = JSON.parse(await readFile(join(dir, "cores.json"), "utf8")) as unknown;
      if (!Array.isArray(names) || !names.every((n) => typeof n === "string" && CORE_NAME.test(n))) {
        this.counts.misses++;
        return null;
      }
      const [js, wit] = await Promise.all([readFile(join(dir, "component.js"), "utf8"), readFile(join(dir, "world.wit"), "utf8")]);
      const cores: Record<string, Uint8Array> = {};
      for (const n of names as string[]) cores[n] = new Uint8Array(await readFile(join(dir, n)));
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined); // recency for eviction
      this.counts.hits++;
      return { js, wit, cores };
    } catch {
      this.counts.misses++;
      return null;
    }
  }

  /** Stores an entry (best effort: a failure is logged, never thrown) and evicts beyond the bounds. */
  put(key: string, files: TranspiledFiles): Promise<void> {
    const job = this.writing.then(() => this.write(key, files)).catch((err: unknown) => {
      this.options.logger?.warn({ err: messageOf(err) }, "could not store a transpiled component (the next run transpiles again)");
    });
    this.writing = job;
    return job;
  }

  private async write(key: string, files: TranspiledFiles): Promise<void> {
    await this.init();
    const names = Object.keys(files.cores);
    if (!names.every((n) => CORE_NAME.test(n))) return;
    const tmp = join(this.options.dir, `.tmp-${key}-${process.pid}-${Date.now()}`);
    await mkdir(tmp, { recursive: true });
    try {
      await writeFile(join(tmp, "component.js"), files.js);
      await writeFile(join(tmp, "world.wit"), files.wit);
      for (const n of names) await writeFile(join(tmp, n), files.cores[n]!);
      await writeFile(join(tmp, "cores.json"), JSON.stringify(names));
      await rm(join(this.options.dir, key), { recursive: true, force: true });
      await rename(tmp, join(this.options.dir, key));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await this.evict();
  }

  private async evict(): Promise<void> {
    const entries: Array<{ name: string; used: number; bytes: number }> = [];
    for (const name of await readdir(this.options.dir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const dir = join(this.options.dir, name);
      try {
        const st = await stat(dir);
        let bytes = 0;
        for (const f of await readdir(dir)) bytes += (await stat(join(dir, f))).size;
        entries.push({ name, used: st.mtimeMs, bytes });
      } catch {
        // removed meanwhile
      }
    }
    entries.sort((a, b) => b.used - a.used); // most recent first
    let count = 0;
    let bytes = 0;
    for (const e of entries) {
      count++;
      bytes += e.bytes;
      if (count > this.maxEntries || bytes > this.maxBytes) {
        await rm(join(this.options.dir, e.name), { recursive: true, force: true });
        this.options.logger?.debug({ entry: e.name }, "evicted a transpiled component from the cache");
      }
    }
  }
}
