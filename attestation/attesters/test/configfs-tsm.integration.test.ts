import { createHash, randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readVector, describeWithVectors } from "../../../testing/vectors.js";
import { buildCertTable, decodeSnpEvidence } from "../../snp/evidence.js";
import { buildFakeReport, createFakeAmd, signFakeReport, type FakeAmd, type FakeVek } from "../../snp/testing/fake.js";
import { SnpVerifier } from "../../snp/verifier.js";
import { decodeTdxEvidence } from "../../tdx/evidence.js";
import { fakeCollateral, fakePki, fakeQuote, FAKE_EPOCH } from "../../tdx/testing/fake-dcap.js";
import { TdxVerifier } from "../../tdx/verifier.js";
import { parseTdxQuote } from "../../tdx/quote.js";
import { probeTsmProvider, readTsmReport, TsmError } from "../configfs-tsm.js";
import { SnpAttester } from "../snp.js";
import { TdxAttester } from "../tdx.js";

const logger = pino({ level: "silent" });

/**
 * A stand-in for the kernel's configfs-tsm, on a plain temp dir (the kernel ABI is the boundary):
 * when an item directory appears it gets `provider` and `generation`; when 64 bytes of `inblob`
 * appear it counts the write, asks `produce` for the blobs and publishes auxblob, generation and
 * then outblob (each by rename, so a reader never sees half a file). `raceItems` makes the first N
 * items look written by someone else: their generation keeps changing on every event-loop turn.
 */
class FakeTsmKernel {
  readonly items: string[] = [];
  readonly inblobs: Buffer[] = [];
  readonly privlevels: string[] = [];
  private readonly servers: Server[] = [];
  private readonly processed = new Set<string>();
  private readonly timer: NodeJS.Timeout;
  private racing = new Set<string>();
  // Seven digits, so every value has the same length and an in-place overwrite is never half-read.
  private raceCounter = 1_000_001;
  private stopped = false;

  constructor(
    readonly root: string,
    private readonly staging: string,
    // provider "no-provider": the attribute cannot be read (ENXIO), as without a TSM driver.
    private readonly opts: { provider: string; produce: (inblob: Buffer) => { outblob: Buffer; auxblob?: Buffer } | undefined; raceItems?: number },
  ) {
    this.timer = setInterval(() => this.tick(), 1);
    const race = () => {
      if (this.stopped) return;
      for (const name of this.racing) this.overwrite(name, "generation", Buffer.from(`${this.raceCounter++}\n`));
      setImmediate(race);
    };
    setImmediate(race);
  }

  private publish(item: string, attr: string, data: Buffer): void {
    const tmp = join(this.staging, `${attr}-${randomBytes(6).toString("hex")}`);
    writeFileSync(tmp, data);
    try {
      renameSync(tmp, join(this.root, item, attr));
    } catch {
      unlinkSync(tmp); // the item was removed meanwhile
    }
  }

  /** Rewrites an existing attribute in place ("r+" never creates it again once the item is removed). */
  private overwrite(item: string, attr: string, data: Buffer): void {
    try {
      const fd = openSync(join(this.root, item, attr), "r+");
      try {
        writeSync(fd, data, 0, data.byteLength, 0);
      } finally {
        closeSync(fd);
      }
    } catch {
      // the item was removed meanwhile
    }
  }

  private tick(): void {
    for (const name of readdirSync(this.root)) {
      if (!this.items.includes(name)) {
        this.items.push(name);
        if (this.opts.provider === "no-provider") {
          // open(2) of a socket fails with ENXIO: what a kernel without a TSM driver answers.
          const server = createServer();
          server.listen(join(this.root, name, "provider"));
          this.servers.push(server);
        } else {
          this.publish(name, "provider", Buffer.from(`${this.opts.provider}\n`));
        }
        const racing = this.items.length <= (this.opts.raceItems ?? 0);
        this.publish(name, "generation", Buffer.from(racing ? "1000000\n" : "0\n"));
        if (racing) this.racing.add(name);
      }
      if (this.processed.has(name)) continue;
      const inPath = join(this.root, name, "inblob");
      let inblob: Buffer;
      try {
        if (statSync(inPath).size !== 64) continue;
        inblob = readFileSync(inPath);
      } catch {
        continue;
      }
      this.processed.add(name);
      this.inblobs.push(inblob);
      const privPath = join(this.root, name, "privlevel");
      const hasPriv = existsSync(privPath);
      if (hasPriv) this.privlevels.push(readFileSync(privPath, "latin1"));
      const blobs = this.opts.produce(inblob);
      if (!blobs) continue;
      if (blobs.auxblob) this.publish(name, "auxblob", blobs.auxblob);
      if (!this.racing.has(name)) this.publish(name, "generation", Buffer.from(`${hasPriv ? 2 : 1}\n`));
      this.publish(name, "outblob", blobs.outblob);
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.servers) s.close();
  }
}

let base: string;
let kernel: FakeTsmKernel | undefined;

async function startKernel(opts: ConstructorParameters<typeof FakeTsmKernel>[2]): Promise<FakeTsmKernel> {
  const root = join(base, `report-${randomBytes(4).toString("hex")}`);
  const staging = join(base, `staging-${randomBytes(4).toString("hex")}`);
  mkdirSync(root);
  mkdirSync(staging);
  kernel = new FakeTsmKernel(root, staging, opts);
  return kernel;
}

/** What the KBS binds: SHA-384 of the runtime data (48 bytes). */
const reportData = (): Buffer => createHash("sha384").update(randomBytes(32)).digest();
const padded = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc(64 - b.byteLength)]);

async function rejection(p: Promise<unknown>): Promise<TsmError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(TsmError);
  return e as TsmError;
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "propeller-tsm-"));
});
afterEach(() => {
  kernel?.stop();
  kernel = undefined;
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe("SNP attester over configfs-tsm, report signed by a fake AMD, verified by SnpVerifier", () => {
  let amd: FakeAmd;
  let vcek: FakeVek;
  let auxblob: Buffer;
  const now = new Date("2024-06-01T00:00:00Z");
  const snpKernel = (provider = "sev_guest") =>
    startKernel({ provider, produce: (inblob) => ({ outblob: signFakeReport(buildFakeReport({ reportData: inblob }), vcek.key), auxblob }) });

  beforeAll(async () => {
    amd = await createFakeAmd("Milan");
    vcek = await amd.issueVek();
    auxblob = buildCertTable({ vcek: vcek.der, ask: Buffer.from(amd.ask.rawData), ark: Buffer.from(amd.ark.rawData) });
  });

  it("produces Trustee SNP evidence that verifies, with the report data bound; the item is removed", async () => {
    const k = await snpKernel();
    const rd = reportData();
    const evidence = await new SnpAttester({ root: k.root, logger }).evidence(rd);
    expect(k.inblobs).toEqual([padded(rd)]);
    const decoded = decodeSnpEvidence(evidence);
    expect(decoded.certs.vcek?.equals(vcek.der)).toBe(true);
    const verifier = new SnpVerifier({ roots: amd.roots, logger });
    const ok = await verifier.verify(evidence, { reportData: rd, now });
    expect(ok.checks.filter((c) => !c.ok)).toEqual([]);
    expect(ok.ok).toBe(true);
    const other = await verifier.verify(evidence, { reportData: reportData(), now });
    expect(other.ok).toBe(false);
    expect(other.checks.filter((c) => !c.ok).map((c) => c.name)).toContain("snp.report_data");
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("writes privlevel before inblob and counts both writes in the generation", async () => {
    const k = await snpKernel();
    const rd = reportData();
    const evidence = await new SnpAttester({ root: k.root, privlevel: 0, logger }).evidence(rd);
    expect(k.privlevels.map((p) => p.trim())).toEqual(["0"]);
    expect((await new SnpVerifier({ roots: amd.roots }).verify(evidence, { reportData: rd, now })).ok).toBe(true);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("refuses a report whose REPORT_DATA is not what it wrote", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: () => ({ outblob: signFakeReport(buildFakeReport({ reportData: Buffer.alloc(64, 7) }), vcek.key), auxblob }) });
    await expect(new SnpAttester({ root: k.root }).evidence(reportData())).rejects.toMatchObject({ code: "evidence_malformed" });
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("another provider → tsm_provider_mismatch, before any input is written", async () => {
    const k = await snpKernel("tdx_guest");
    const e = await rejection(new SnpAttester({ root: k.root }).evidence(reportData()));
    expect(e.code).toBe("tsm_provider_mismatch");
    expect(e.message).toMatch(/tdx_guest.*sev_guest/);
    expect(k.inblobs).toEqual([]);
    expect(k.items.length).toBe(1);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("a generation that changes between reads is retried with a fresh item, and succeeds", async () => {
    const k = await startKernel({
      provider: "sev_guest",
      raceItems: 1,
      produce: (inblob) => ({ outblob: signFakeReport(buildFakeReport({ reportData: inblob }), vcek.key), auxblob }),
    });
    const rd = reportData();
    const evidence = await new SnpAttester({ root: k.root }).evidence(rd);
    expect(k.items.length).toBe(2);
    expect((await new SnpVerifier({ roots: amd.roots }).verify(evidence, { reportData: rd, now })).ok).toBe(true);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("a generation that keeps changing → tsm_race after 3 attempts, every item removed", async () => {
    const k = await startKernel({
      provider: "sev_guest",
      raceItems: 99,
      produce: (inblob) => ({ outblob: signFakeReport(buildFakeReport({ reportData: inblob }), vcek.key), auxblob }),
    });
    const e = await rejection(new SnpAttester({ root: k.root }).evidence(reportData()));
    expect(e.code).toBe("tsm_race");
    expect(k.items.length).toBe(3);
    expect(readdirSync(k.root)).toEqual([]);
  });
});

describe("configfs-tsm file protocol", () => {
  it("missing root → tsm_unavailable with an actionable message; probe says null", async () => {
    const root = join(base, "no-such-tsm", "report");
    const e = await rejection(readTsmReport({ root, inblob: Buffer.alloc(64) }));
    expect(e.code).toBe("tsm_unavailable");
    expect(e.message).toBe("configfs-tsm not available: is this a TEE guest with configfs mounted?");
    await expect(new TdxAttester({ root }).evidence(reportData())).rejects.toMatchObject({ code: "tsm_unavailable" });
    expect(await probeTsmProvider(root)).toBeNull();
  });

  it("a kernel without a TSM driver (provider read fails with ENXIO) → tsm_unavailable; probe says null", async () => {
    const k = await startKernel({ provider: "no-provider", produce: () => undefined });
    expect(await probeTsmProvider(k.root)).toBeNull();
    const e = await rejection(new SnpAttester({ root: k.root }).evidence(reportData()));
    expect(e.code).toBe("tsm_unavailable");
    expect(e.message).toMatch(/no provider registered/);
    expect(k.inblobs).toEqual([]);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("probeTsmProvider reads the provider from a throw-away item and removes it", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: () => undefined });
    expect(await probeTsmProvider(k.root)).toBe("sev_guest");
    expect(k.items.length).toBe(1);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("an outblob that never appears → tsm_io at the deadline, item removed", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: () => undefined });
    const started = Date.now();
    const e = await rejection(readTsmReport({ root: k.root, inblob: Buffer.alloc(64, 1), timeoutMs: 200 }));
    expect(e.code).toBe("tsm_io");
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(k.inblobs).toEqual([Buffer.alloc(64, 1)]);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("an outblob over 64 KiB → tsm_io (never truncated), item removed", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: () => ({ outblob: Buffer.alloc(64 * 1024 + 1, 1) }) });
    const e = await rejection(readTsmReport({ root: k.root, inblob: Buffer.alloc(64) }));
    expect(e.code).toBe("tsm_io");
    expect(e.message).toMatch(/larger than 65536/);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("returns outblob, auxblob, provider and generation as the kernel published them", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: (inblob) => ({ outblob: Buffer.concat([inblob, inblob]), auxblob: Buffer.from("aux") }) });
    const inblob = randomBytes(64);
    const r = await readTsmReport({ root: k.root, inblob, provider: "sev_guest" });
    expect(r.outblob.equals(Buffer.concat([inblob, inblob]))).toBe(true);
    expect(r.auxblob?.toString()).toBe("aux");
    expect(r.provider).toBe("sev_guest");
    expect(r.generation).toBe(1);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("rejects inblobs that are not 64 bytes and privlevels outside 0..3", async () => {
    await expect(readTsmReport({ root: base, inblob: Buffer.alloc(63) })).rejects.toThrow(RangeError);
    await expect(readTsmReport({ root: base, inblob: Buffer.alloc(64), privlevel: 4 })).rejects.toThrow(RangeError);
  });
});

describe("TDX attester over configfs-tsm, quote signed by a fake DCAP PKI, verified by TdxVerifier", () => {
  it("the evidence verifies with the report data bound; another report data does not", async () => {
    const pki = await fakePki();
    const rd = reportData();
    // The quote is signed ahead of time (key generation is async); the fake kernel hands it out
    // only for an inblob equal to its REPORTDATA, as the TDX module would bind it.
    const q = await fakeQuote(pki, { reportData: padded(rd), version: 5 });
    const k = await startKernel({ provider: "tdx_guest", produce: (inblob) => (inblob.equals(padded(rd)) ? { outblob: q.bytes } : undefined) });
    const evidence = await new TdxAttester({ root: k.root, logger }).evidence(rd);
    expect(k.inblobs).toEqual([padded(rd)]);
    const verifier = new TdxVerifier({ collateral: await fakeCollateral(pki), trustAnchorPem: pki.rootPem, logger });
    const ok = await verifier.verify(evidence, { now: FAKE_EPOCH, reportData: rd });
    expect(ok.checks.filter((c) => !c.ok)).toEqual([]);
    expect(ok.ok).toBe(true);
    const other = await verifier.verify(evidence, { now: FAKE_EPOCH, reportData: reportData() });
    expect(other.ok).toBe(false);
    expect(other.checks.filter((c) => !c.ok).map((c) => c.name)).toContain("tdx.report_data");
    expect(readdirSync(k.root)).toEqual([]);
  });
});

describeWithVectors("TDX attester over configfs-tsm with a real quote as outblob", () => {
  const quote = readVector("tdx/go-tdx-guest/quote_v5_sample.dat");
  const quoteReportData = Buffer.from(parseTdxQuote(quote).body.reportData);

  it("encodes the quote as Trustee TDX evidence that round-trips, when REPORTDATA is what it wrote", async () => {
    // The kernel answers with the vector quote; the attester asks for exactly its REPORTDATA.
    const k = await startKernel({ provider: "tdx_guest", produce: () => ({ outblob: quote }) });
    const evidence = await new TdxAttester({ root: k.root, logger }).evidence(quoteReportData);
    expect(k.inblobs).toEqual([quoteReportData]);
    expect(Object.keys(evidence)).toEqual(["quote"]);
    expect(decodeTdxEvidence(evidence).quote.equals(quote)).toBe(true);
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("refuses a quote that does not carry its report data", async () => {
    const k = await startKernel({ provider: "tdx_guest", produce: () => ({ outblob: quote }) });
    await expect(new TdxAttester({ root: k.root }).evidence(reportData())).rejects.toMatchObject({ code: "evidence_malformed" });
    expect(readdirSync(k.root)).toEqual([]);
  });

  it("an SNP guest's configfs-tsm → tsm_provider_mismatch", async () => {
    const k = await startKernel({ provider: "sev_guest", produce: () => ({ outblob: quote }) });
    await expect(new TdxAttester({ root: k.root }).evidence(quoteReportData)).rejects.toMatchObject({ code: "tsm_provider_mismatch" });
    expect(k.inblobs).toEqual([]);
    expect(readdirSync(k.root)).toEqual([]);
  });
});
