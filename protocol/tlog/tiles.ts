/**
 * C2SP tlog-tiles layout: tiles of 256 hashes at levels 0, 8, 16… of the tree, at
 * `tile/<L>/<N>[.p/<W>]`, and entry bundles at `tile/entries/<N>[.p/<W>]` (big-endian uint16
 * length-prefixed entries). <N> is written in 3-digit groups, all but the last prefixed "x".
 */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
/** The uint16 length prefix bounds an entry. */
export const MAX_ENTRY_BYTES = 0xffff;

export function encodeTileIndex(n: number): string {
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, "0"));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

/** Parses "x001/x234/067" (null when malformed). */
export function parseTileIndex(path: string): number | null {
  const parts = path.split("/");
  if (parts.length === 0 || parts.length > 6) return null;
  let n = 0;
  for (let i = 0; i < parts.length; i++) {
    const last = i === parts.length - 1;
    const m = (last ? /^([0-9]{3})$/ : /^x([0-9]{3})$/).exec(parts[i]!);
    if (!m) return null;
    n = n * 1000 + Number(m[1]);
  }
  return Number.isSafeInteger(n) ? n : null;
}

export interface TileRef {
  /** Tile level (0..63), or "entries" for an entry bundle. */
  level: number | "entries";
  index: number;
  /** 1..255 for a partial tile, 256 for a full one. */
  width: number;
}

export function tilePath(t: TileRef): string {
  return `tile/${t.level}/${encodeTileIndex(t.index)}${t.width < TILE_WIDTH ? `.p/${t.width}` : ""}`;
}

/** Parses the part after `tile/` (e.g. "0/x001/234.p/7" or "entries/005"); null when it is not a tile path. */
export function parseTilePath(rest: string): TileRef | null {
  const m = /^(entries|0|[1-9][0-9]?)\/(.+?)(?:\.p\/([1-9][0-9]{0,2}))?$/.exec(rest);
  if (!m) return null;
  const level = m[1] === "entries" ? "entries" : Number(m[1]);
  if (level !== "entries" && level > 63) return null;
  const index = parseTileIndex(m[2]!);
  if (index === null) return null;
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (width < 1 || width >= TILE_WIDTH + (m[3] === undefined ? 1 : 0)) return null;
  return { level, index, width };
}

/** The width of the rightmost tile at `level` in a tree of `size` (0: no partial tile there). */
export function partialWidth(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level) % TILE_WIDTH;
}

/** How many full tiles a tree of `size` has at `level`. */
export function fullTiles(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** (level + 1));
}

export function encodeEntryBundle(entries: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.length > MAX_ENTRY_BYTES) throw new RangeError(`entry of ${e.length} bytes does not fit a uint16 length prefix`);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(e.length);
    parts.push(len, Buffer.from(e));
  }
  return Buffer.concat(parts);
}

export function decodeEntryBundle(bundle: Buffer, maxEntries = TILE_WIDTH): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bundle.length) {
    if (out.length >= maxEntries) throw new RangeError(`entry bundle holds more than ${maxEntries} entries`);
    if (at + 2 > bundle.length) throw new RangeError("entry bundle ends inside a length prefix");
    const len = bundle.readUInt16BE(at);
    if (at + 2 + len > bundle.length) throw new RangeError("entry bundle ends inside an entry");
    out.push(bundle.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}

export function decodeTile(tile: Buffer): Buffer[] {
  if (tile.length % 32 !== 0 || tile.length === 0 || tile.length > TILE_WIDTH * 32) throw new RangeError(`a tile is 1..256 hashes of 32 bytes; got ${tile.length} bytes`);
  return Array.from({ length: tile.length / 32 }, (_, i) => tile.subarray(i * 32, i * 32 + 32));
}
