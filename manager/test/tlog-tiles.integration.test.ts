/**
 * The log's tlog-tiles layout read by an independent client: a Python program (hashlib, and Debian's
 * python3-cryptography for Ed25519, which CI installs with python3-jwcrypto) that knows only the C2SP
 * specifications fetches the key, the
 * checkpoint, full and partial tiles at levels 0 and 1 and the entry bundles from a real manager,
 * and rebuilds the checkpoint's root from them. Entries are put in the log's queue directly (as the
 * dispatcher does in its storing transaction), so that the tree spans several tiles quickly.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../testing/net.js";
import { startBacking, startHarness, type Backing, type Harness } from "./helpers.js";

const run = promisify(execFile);
/** Debian's interpreter: the one whose packages CI installs (.ci/run). */
const PYTHON = "/usr/bin/python3";

const CLIENT = String.raw`
import base64, hashlib, json, struct, sys, urllib.error, urllib.request
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + "/" + path, timeout=10) as r:
        return r.read()
def status(path):
    try:
        get(path); return 200
    except urllib.error.HTTPError as e:
        return e.code
def index_path(n):
    groups = []
    while True:
        groups.insert(0, "%03d" % (n % 1000)); n //= 1000
        if n == 0: break
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])
def tile(level, n, width):
    return "tile/%s/%s%s" % (level, index_path(n), "" if width == 256 else ".p/%d" % width)
leaf = lambda b: hashlib.sha256(b"\x00" + b).digest()
node = lambda l, r: hashlib.sha256(b"\x01" + l + r).digest()
def mth(hs):
    if len(hs) == 1: return hs[0]
    k = 1
    while k * 2 < len(hs): k *= 2
    return node(mth(hs[:k]), mth(hs[k:]))

# The verifier key: name+hex key ID+base64(0x01 || public key); the ID is SHA-256(name || 0x0A || 0x01 || key)[:4].
name, key_id, key_b64 = get("key").decode().strip().split("+", 2)
key = base64.b64decode(key_b64)
assert key[0] == 1 and len(key) == 33
assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id
# The checkpoint: origin, size, root; a blank line; signature lines of the signed-note format.
note = get("checkpoint").decode()
text, sigs = note.split("\n\n", 1)
text += "\n"
origin, size, root = text.splitlines()[:3]
size, root = int(size), base64.b64decode(root)
assert origin == name
verified = False
for line in sigs.splitlines():
    dash, signer, sig = line.split(" ")
    raw = base64.b64decode(sig)
    if dash == "\u2014" and signer == name and raw[:4].hex() == key_id:
        Ed25519PublicKey.from_public_bytes(key[1:]).verify(raw[4:], text.encode())
        verified = True
assert verified
# Level 0: every full tile, then the partial one; entry bundles the same way.
level0, entries, fetched = [], [], []
for n in range((size + 255) // 256):
    width = min(256, size - n * 256)
    t = get(tile(0, n, width)); assert len(t) == 32 * width
    level0 += [t[i:i + 32] for i in range(0, len(t), 32)]
    b = get(tile("entries", n, width)); at = 0; count = 0
    while at < len(b):
        (length,) = struct.unpack(">H", b[at:at + 2]); entries.append(b[at + 2:at + 2 + length]); at += 2 + length; count += 1
    assert count == width
    fetched += [tile(0, n, width), tile("entries", n, width)]
assert [leaf(e) for e in entries] == level0
# Level 1: one hash per full level-0 tile, each the root of those 256 leaves.
full = size // 256
if full:
    t1 = get(tile(1, 0, full)); fetched.append(tile(1, 0, full))
    assert [t1[i:i + 32] for i in range(0, len(t1), 32)] == [mth(level0[i * 256:(i + 1) * 256]) for i in range(full)]
assert mth(level0) == root
# Beyond the signed tree: not served.
beyond = [status(tile(0, size // 256, size % 256 + 1)), status(tile(1, 0, full + 1)), status("tile/0/x1/000")]
print(json.dumps({"size": size, "entries": len(entries), "fetched": fetched, "beyond": beyond}))
`;

describe("tlog-tiles read by an independent client (Python)", () => {
  let backing: Backing;
  let h: Harness;
  beforeAll(async () => {
    backing = await startBacking("services");
    h = await startHarness(backing, { log: { checkpointEveryEntries: 100, origin: "tiles.example/log" } });
  }, 120_000);
  afterAll(async () => {
    await h?.close();
    await backing?.close();
  });

  it("fetches key, checkpoint, full and partial tiles at levels 0 and 1 and entry bundles, and rebuilds the signed root", async () => {
    const n = 2 * 256 + 88;
    const db = new pg.Client({ connectionString: backing.databaseUrl });
    await db.connect();
    try {
      // Entries of every length from 0 bytes up (the uint16 length prefix), in one statement.
      const entries = Array.from({ length: n }, (_, i) => randomBytes(i % 7 === 0 ? 0 : (i * 37) % 3000));
      await db.query("INSERT INTO tlog_pending (run_id, entry) SELECT 'tile-' || i, e FROM unnest($1::bytea[]) WITH ORDINALITY AS q(e, i)", [entries]);
    } finally {
      await db.end();
    }
    // The manager's own sequencer appends them (every log.sequenceEveryMs) and signs a checkpoint.
    await waitFor(async () => {
      const note = await (await fetch(`${h.manager.url}/log/checkpoint`)).text();
      return note.split("\n")[1] === String(n);
    }, 20_000, `a checkpoint of size ${n}`);
    const { stdout } = await run(PYTHON, ["-c", CLIENT, `${h.manager.url}/log`], { timeout: 60_000 });
    const out = JSON.parse(stdout) as { size: number; entries: number; fetched: string[]; beyond: number[] };
    expect(out).toMatchObject({ size: n, entries: n, beyond: [404, 404, 404] });
    expect(out.fetched).toEqual(["tile/0/000", "tile/entries/000", "tile/0/001", "tile/entries/001", "tile/0/002.p/88", "tile/entries/002.p/88", "tile/1/000.p/2"]);
  }, 120_000);
});
