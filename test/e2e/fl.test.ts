/**
 * Federated learning end to end (docs/fl.md): the C training client on three real proplets with
 * non-IID shards of the breast cancer set, real Mosquitto and PostgreSQL. Rounds run and the test
 * accuracy improves; every model version equals a FedAvg recomputed here in plain JS from the runs'
 * outputs; a manager restart mid-experiment resumes without running a round twice; a participant
 * killed mid-experiment is a straggler and rounds go on with k of n; a tampered update is excluded;
 * attested experiments refuse unattested participants; the manager's database and logs hold no
 * training data.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { sha256Digest } from "../../protocol/index.js";
import { createTestDatabase } from "../../testing/postgres.js";
import { EXAMPLES_DIR } from "../../testing/paths.js";
import { afterEach, expect, it } from "vitest";
import pg from "pg";
import { accuracy } from "../../cli/fl-data.js";
import { describeWhen } from "../../testing/describe-when.js";
import { waitFor } from "../../testing/net.js";
import { DATASET_AVAILABLE, experimentBody, flSetup, type FlSetup } from "./fl-support.js";
import { ManagerClient } from "../../cli/manager-client.js";
import { E2E_ADMIN_KEY } from "./helpers.js";
import type { FlExperiment } from "../../protocol/api/index.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const TIMEOUT_MS = 240_000;

/** The runs' stdout per participant and round, read through the task API (what the proplets sent). */
async function updatesOf(s: FlSetup, exp: FlExperiment, round: number): Promise<Map<string, { samples: number; weights: number[]; digest: string }>> {
  const r = exp.roundList!.find((x) => x.round === round)!;
  const out = new Map<string, { samples: number; weights: number[]; digest: string }>();
  for (const u of r.updates) {
    if (u.state !== "accepted") continue;
    const task = await s.client.getTask(u.taskId!);
    const bytes = Buffer.from(task.latestRun!.result!.stdoutBase64, "base64");
    const parsed = JSON.parse(bytes.toString("utf8")) as { samples: number; weights: number[] };
    out.set(u.propletId, { ...parsed, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}` });
  }
  return out;
}

/** FedAvg written again, independently: sum of n_i·w_i over N, participants in id order. */
function plainFedAvg(updates: Map<string, { samples: number; weights: number[] }>): number[] {
  const ids = [...updates.keys()].sort();
  const total = ids.reduce((a, id) => a + updates.get(id)!.samples, 0);
  const size = updates.get(ids[0]!)!.weights.length;
  const out: number[] = [];
  for (let j = 0; j < size; j++) {
    let acc = 0;
    for (const id of ids) acc += updates.get(id)!.weights[j]! * (updates.get(id)!.samples / total);
    out.push(acc);
  }
  return out;
}

async function dumpDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    let text = "";
    for (const t of tables) {
      const { rows } = await client.query(`SELECT row_to_json(x)::text AS j FROM "${t.tablename}" x`);
      for (const r of rows as Array<{ j: string }>) text += r.j + "\n";
    }
    return text;
  } finally {
    await client.end();
  }
}

describeWhen(
  "federated learning",
  DATASET_AVAILABLE,
  { test: "needs the breast cancer data set", why: "python3-sklearn is not installed (apt-get install python3-sklearn)", skip: "python3-sklearn is not installed" },
  () => {
    it("runs rounds on the C client: accuracy improves, every model is the FedAvg of its updates, no training data reaches the manager", async () => {
      const s = await flSetup(cleanups);
      const created = await s.client.createExperiment({ ...(await experimentBody()), start: true });
      expect(created.state).toBe("running");
      const done = await s.client.waitForExperiment(created.id, 180_000);
      const exp = await s.client.getExperiment(created.id);
      if (done.state !== "completed") {
        const failed = exp.roundList!.flatMap((r) => r.updates).filter((u) => u.state !== "accepted" && u.taskId);
        const stderr = await Promise.all(failed.map(async (u) => Buffer.from((await s.client.getTask(u.taskId!)).latestRun?.result?.stderr ?? "").toString()));
        expect.fail(`${done.reason}: ${JSON.stringify(failed.map((u, i) => [u.propletId, u.reason, stderr[i]]))}`);
      }
      expect(exp.roundList).toHaveLength(4);
      expect(exp.latestModel.version).toBe(4);

      const accuracies: number[] = [];
      const initial = await s.client.getModel(exp.id, 0);
      accuracies.push(accuracy(initial.weights, s.split.test));
      for (const round of exp.roundList!) {
        expect(round.state).toBe("completed");
        expect(round.accepted).toBe(3);
        const model = await s.client.getModel(exp.id, round.round);
        const updates = await updatesOf(s, exp, round.round);
        // The aggregation, recomputed here: bit for bit (same order), and the digests it names.
        expect(model.weights).toEqual(plainFedAvg(updates));
        expect(model.samples).toBe([...updates.values()].reduce((a, u) => a + u.samples, 0));
        expect(model.updates.map((u) => u.propletId)).toEqual(["p1", "p2", "p3"]);
        for (const u of model.updates) expect(u.digest).toBe(updates.get(u.propletId)!.digest);
        // The model digest: sha256 of the RFC 8785 JSON {format, shape, weights}.
        const canonical = JSON.stringify({ format: "propeller-fl-model/1", shape: model.shape, weights: model.weights });
        expect(model.digest).toBe(`sha256:${createHash("sha256").update(canonical).digest("hex")}`);
        // Round r+1 trained from round r's model.
        const next = exp.roundList!.find((r) => r.round === round.round + 1);
        if (next) expect(next.baseModel.digest).toBe(model.digest);
        accuracies.push(accuracy(model.weights, s.split.test));
      }
      // Non-IID shards, a few rounds: the held-out accuracy climbs well above the majority class.
      expect(accuracies[accuracies.length - 1]!).toBeGreaterThan(0.9);
      expect(accuracies[accuracies.length - 1]!).toBeGreaterThan(accuracies[0]!);

      // No training example reached the manager: neither the raw CSV lines nor the shards' values.
      const stored = await dumpDatabase(s.db.url);
      const logs = s.logs.join("");
      const rawLines = s.raw.trim().split("\n").slice(1);
      const probes = [
        ...rawLines.filter((_, i) => i % 25 === 0).map((l) => l.split(",").slice(0, 3).join(",")),
        ...s.split.shards.flatMap((sh) => sh.x.filter((_, i) => i % 20 === 0).map((row) => row.slice(0, 2).map((v) => v.toPrecision(10)).join(","))),
      ];
      expect(probes.length).toBeGreaterThan(40);
      for (const probe of probes) {
        expect(stored.includes(probe), `database holds ${probe}`).toBe(false);
        expect(logs.includes(probe), `logs hold ${probe}`).toBe(false);
      }
      expect(stored).toContain(exp.latestModel.digest);
    }, TIMEOUT_MS);

    it("the CLI drives an experiment from a spec file; a selector with a fraction invites a rotating k of n", async () => {
      const { main } = await import("../../cli/main.js");
      const { mkdtemp, writeFile, rm } = await import("node:fs/promises");
      const { tmpdir } = await import("node:os");
      const s = await flSetup(cleanups);
      const dir = await mkdtemp(join(tmpdir(), "fl-cli-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const spec = {
        name: "cli-selector",
        wasm: join(EXAMPLES_DIR, "components", "fl", "logreg.component.wasm"),
        model: { shape: [31] },
        rounds: 3,
        participants: { selector: {}, min: 3, fraction: 0.6 },
        k: 2,
        roundDeadlineMs: 30_000,
        args: ["--epochs", "1"],
        data: { volume: "fl-data" },
      };
      await writeFile(join(dir, "spec.json"), JSON.stringify(spec));
      const run = async (argv: string[]) => {
        const out: string[] = [];
        const err: string[] = [];
        const code = await main([...argv, "--manager", s.manager.url, "--token", E2E_ADMIN_KEY], { out: (t) => void out.push(t), err: (t) => void err.push(t) });
        return { code, out: out.join("\n"), err: err.join("\n") };
      };
      const created = await run(["fl", "create", join(dir, "spec.json"), "--start", "--json"]);
      expect(created.code, created.err).toBe(0);
      const id = (JSON.parse(created.out) as FlExperiment).id;
      const waited = await run(["fl", "wait", id, "--timeout", "120000"]);
      expect(waited.code, waited.err + waited.out).toBe(0);
      expect(waited.out).toMatch(/round 3 +completed +2\/2 accepted/);
      const status = JSON.parse((await run(["fl", "status", id, "--json"])).out) as FlExperiment;
      // ceil(0.6 × 3) = 2 invited per round, the window rotating: every participant trained.
      expect(status.roundList!.map((r) => r.updates.map((u) => u.propletId))).toEqual([["p1", "p2"], ["p1", "p3"], ["p2", "p3"]]);
      const model = await run(["fl", "model", id]);
      expect(model.out).toContain(`model v3 of ${id} (round 3): ${status.latestModel.digest}`);
      expect((await run(["fl", "list"])).out).toContain(id);
      expect((await run(["fl", "status", "no-such-experiment"])).code).toBe(2);
    }, TIMEOUT_MS);

    it("a manager restart mid-experiment resumes it; no round or participant run is started twice", async () => {
      const s = await flSetup(cleanups);
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 5 })), start: true });
      await waitFor(async () => ((await s.client.getExperiment(created.id)).currentRound >= 2 ? true : null), 120_000, "round 2");
      await s.restartManager();
      const done = await s.client.waitForExperiment(created.id, 180_000);
      expect(done.state, done.reason ?? "").toBe("completed");
      const exp = await s.client.getExperiment(created.id);
      expect(exp.roundList!.map((r) => r.round)).toEqual([1, 2, 3, 4, 5]);
      const tasks = await s.client.listTasks({ limit: 500 });
      const names = tasks.items.map((t) => t.name).filter((n) => n.startsWith(`fl/${created.id}/`));
      expect(new Set(names).size).toBe(names.length);
      expect(names).toHaveLength(15);
      for (const round of exp.roundList!) expect(round.accepted).toBe(3);
    }, TIMEOUT_MS);

    it("two managers on one database advance one experiment: every round runs once, each participant's run once", async () => {
      const s = await flSetup(cleanups);
      const second = await s.addManager();
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 5 })), start: true });
      const done = await s.client.waitForExperiment(created.id, 180_000);
      expect(done.state, done.reason ?? "").toBe("completed");
      const exp = await new ManagerClient({ baseUrl: second.url, token: E2E_ADMIN_KEY }).getExperiment(created.id);
      expect(exp.roundList!.map((r) => [r.round, r.state, r.accepted])).toEqual([1, 2, 3, 4, 5].map((r) => [r, "completed", 3]));
      const tasks = await s.client.listTasks({ limit: 500 });
      const names = tasks.items.map((t) => t.name).filter((n) => n.startsWith(`fl/${created.id}/`));
      expect(names.sort()).toEqual([1, 2, 3, 4, 5].flatMap((r) => ["p1", "p2", "p3"].map((p) => `fl/${created.id}/r${r}/${p}`)).sort());
      for (const t of tasks.items.filter((x) => x.name.startsWith(`fl/${created.id}/`))) expect((await s.client.runs(t.id)).items).toHaveLength(1);
    }, TIMEOUT_MS);

    it("a participant killed mid-experiment: its round closes at the deadline with k of n, and later rounds go on without it", async () => {
      const s = await flSetup(cleanups, { heartbeatTimeoutMs: 60_000 });
      // The deadline leaves room for the first round's cold start (the component is transpiled once per proplet) on a loaded machine.
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 3, k: 2, roundDeadlineMs: 20_000, dropouts: "exclude" })), start: true });
      const opened = await waitFor(async () => {
        const e = await s.client.getExperiment(created.id);
        return e.currentRound >= 2 || e.state !== "running" ? e : null;
      }, 120_000, "round 2");
      expect(opened.state, `${opened.reason}: ${JSON.stringify(opened.roundList?.flatMap((r) => r.updates.map((u) => u.reason)))}`).toBe("running");
      await s.proplets[2]!.kill();
      const done = await s.client.waitForExperiment(created.id, 180_000);
      expect(done.state, done.reason ?? "").toBe("completed");
      const exp = await s.client.getExperiment(created.id);
      const missed = exp.roundList!.flatMap((r) => r.updates.filter((u) => u.propletId === "p3" && u.state !== "accepted").map((u) => ({ round: r.round, ...u })));
      // Killed as round 2 opened: p3's update of round 2 may or may not have made it; one round misses it.
      expect(missed.length).toBeGreaterThanOrEqual(1);
      expect(missed[0]!.state).toBe("missing");
      expect(missed[0]!.reason).toMatch(/straggler|run_failed/);
      const short = exp.roundList!.find((r) => r.round === missed[0]!.round)!;
      expect(short.accepted).toBe(2);
      const model = await s.client.getModel(exp.id, short.round);
      expect(model.updates.map((u) => u.propletId)).toEqual(["p1", "p2"]);
      expect(exp.participants.find((p) => p.propletId === "p3")!.state).toBe("excluded");
    }, TIMEOUT_MS);

    it("a tampered update (stored output no longer what the receipt names) is excluded with the reason; the round goes on with k", async () => {
      const s = await flSetup(cleanups);
      // Tampering at rest: p2's round-2 output is altered as it is stored (it claims 9× the
      // samples), after the receipt over the bytes p2 really sent was checked.
      const admin = new pg.Client({ connectionString: s.db.url });
      await admin.connect();
      cleanups.push(() => admin.end());
      await admin.query(`
        CREATE FUNCTION fl_tamper() RETURNS trigger AS $$
        BEGIN
          IF NEW.state = 'completed' AND NEW.result IS NOT NULL AND NEW.proplet_id = 'p2'
             AND EXISTS (SELECT 1 FROM tasks t WHERE t.id = NEW.task_id AND t.name LIKE '%/r2/p2') THEN
            NEW.result := jsonb_set(NEW.result, '{stdout}', to_jsonb(replace(encode(convert_to(replace(convert_from(decode(NEW.result->>'stdout', 'base64'), 'UTF8'), '"samples":', '"samples":9'), 'UTF8'), 'base64'), E'\\n', '')));
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER fl_tamper BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION fl_tamper();`);
      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 3, k: 2 })), start: true });
      const done = await s.client.waitForExperiment(created.id, 180_000);
      expect(done.state, done.reason ?? "").toBe("completed");
      const exp = await s.client.getExperiment(created.id);
      const r2 = exp.roundList!.find((r) => r.round === 2)!;
      const p2 = r2.updates.find((u) => u.propletId === "p2")!;
      expect(p2.state).toBe("rejected");
      expect(p2.reason).toMatch(/^receipt_mismatch: /);
      expect(r2.accepted).toBe(2);
      expect((await s.client.getModel(exp.id, 2)).updates.map((u) => u.propletId)).toEqual(["p1", "p3"]);
      expect(exp.roundList!.find((r) => r.round === 3)!.accepted).toBe(3);
    }, TIMEOUT_MS);

    it("an attested experiment: a sealed workload released by the KBS to sample-TEE proplets; every update's receipt attested; a proplet without the TEE refused", async () => {
      const { randomBytes } = await import("node:crypto");
      const { adminKeygen, mintAdminToken, setAttestationPolicy, startKbs } = await import("../../kbs/index.js");
      const { sealWorkload } = await import("../../cli/confidential.js");
      const kbsDb = await createTestDatabase("e2e_fl_kbs");
      cleanups.push(() => kbsDb.drop());
      const admin = await adminKeygen({ id: "ops" });
      const kbs = await startKbs(
        { listen: { host: "127.0.0.1", port: 0 }, databaseUrl: kbsDb.url, masterKey: randomBytes(32).toString("base64"), developmentMode: true, admin: { keys: [{ id: "ops", publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] } } as Parameters<typeof startKbs>[0],
        { logger: pino({ level: "silent" }) },
      );
      cleanups.push(() => kbs.close());
      const kbsAdmin = { url: kbs.url, token: () => mintAdminToken({ ...admin.privateJwk, kid: "ops" }, { keyId: "ops" }) };
      await setAttestationPolicy(kbsAdmin, "sample", { id: "e2e/sample", requireReferenceValues: false, unsafeClaims: [] });
      // p1 and p2 attest with the sample TEE (development only); p3 has no TEE.
      const s = await flSetup(cleanups, { tee: (i) => (i < 3 ? { type: "sample" } : undefined) });
      const plain = await readFile(join(EXAMPLES_DIR, "components", "fl", "logreg.component.wasm"));
      const sealed = await sealWorkload(plain, kbsAdmin, "fl/keys/logreg", "sample");
      const confidential = { kbsUrl: kbs.url, resource: sealed.resource, plaintextDigest: sealed.plaintextDigest, tee: "sample" };
      const workload = { digest: sha256Digest(sealed.ciphertext), inline: Buffer.from(sealed.ciphertext).toString("base64") };

      const refused = await s.client.createExperiment({ ...(await experimentBody()), workload, confidential, attested: true });
      await expect(s.client.startExperiment(refused.id)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/p3 \(TEE none\)/) });

      const created = await s.client.createExperiment({ ...(await experimentBody({ rounds: 2, k: 2, participants: { proplets: ["p1", "p2"] } })), workload, confidential, attested: true, start: true });
      const done = await s.client.waitForExperiment(created.id, 180_000);
      const exp = await s.client.getExperiment(created.id);
      expect(done.state, `${done.reason}: ${JSON.stringify(exp.roundList?.flatMap((r) => r.updates.map((u) => u.reason)))}`).toBe("completed");
      expect(exp.attested).toBe(true);
      expect(exp.workloadDigest).toBe(sealed.plaintextDigest);
      for (const r of exp.roundList!) {
        expect(r.accepted).toBe(2);
        for (const u of r.updates) {
          expect(u.attested).toBe(true);
          // The receipt, verified offline, names the update the aggregator used.
          const task = await s.client.getTask(u.taskId!);
          const receipt = await s.client.receipt(task.id, task.latestRun!.id);
          const claims = JSON.parse(Buffer.from(receipt.split(".")[1]!, "base64url").toString("utf8")) as { attested: boolean; tee: string; output: { stdout: string } };
          expect(claims).toMatchObject({ attested: true, tee: "sample" });
          expect(claims.output.stdout).toBe(u.digest);
        }
        expect((await s.client.getModel(exp.id, r.round)).updates.map((u) => u.digest)).toEqual(r.updates.map((u) => u.digest));
      }
    }, TIMEOUT_MS);

    it("propeller fl demo on the embedded stack (startStack: aedes, PGlite): accuracy per round as JSON", async () => {
      const { main } = await import("../../cli/main.js");
      const out: string[] = [];
      const err: string[] = [];
      const { mkdtemp, rm } = await import("node:fs/promises");
      const { tmpdir } = await import("node:os");
      const dir = await mkdtemp(join(tmpdir(), "fl-demo-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const code = await main(["fl", "demo", "--rounds", "3", "--json", "--log-file", join(dir, "demo.log")], { out: (t) => void out.push(t), err: (t) => void err.push(t) });
      expect(code, err.join("\n")).toBe(0);
      const report = JSON.parse(out.join("\n")) as { rounds: Array<{ round: number; accuracy: number; digest: string }> };
      expect(report.rounds.map((r) => r.round)).toEqual([0, 1, 2, 3]);
      expect(report.rounds[3]!.accuracy).toBeGreaterThan(0.9);
      expect(new Set(report.rounds.map((r) => r.digest)).size).toBe(4);
      // The same with secure aggregation: comparable accuracy, and the manager saw only sums.
      const secOut: string[] = [];
      const secCode = await main(["fl", "demo", "--rounds", "2", "--secagg", "--json", "--log-file", join(dir, "demo-secagg.log")], { out: (t) => void secOut.push(t), err: (t) => void err.push(t) });
      expect(secCode, err.join("\n")).toBe(0);
      const sec = JSON.parse(secOut.join("\n")) as { aggregation: string; rounds: Array<{ round: number; accuracy: number }> };
      expect(sec.aggregation).toBe("secagg");
      expect(sec.rounds.map((r) => r.round)).toEqual([0, 1, 2]);
      expect(sec.rounds[2]!.accuracy).toBeGreaterThan(0.85);
    }, TIMEOUT_MS);

    it("refuses what it cannot honour (unattested participants, secagg alone, bad models); stops on request", async () => {
      const s = await flSetup(cleanups);
      const confidential = { kbsUrl: "http://127.0.0.1:9", resource: "kbs:///fl/key/logreg", plaintextDigest: `sha256:${"a".repeat(64)}`, tee: "sample" };
      // Attested needs a confidential workload (only those get attested receipts).
      await expect(s.client.createExperiment({ ...(await experimentBody()), attested: true })).rejects.toMatchObject({ status: 400 });
      const attested = await s.client.createExperiment({ ...(await experimentBody()), attested: true, confidential });
      await expect(s.client.startExperiment(attested.id)).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/participant_not_attested|requires attested participants.*p1 \(TEE none\)/) });
      expect((await s.client.getExperiment(attested.id)).state).toBe("created");
      // Secure aggregation needs a second participant to hide an update among (test/e2e/fl-secagg.test.ts runs it).
      await expect(s.client.createExperiment({ ...(await experimentBody()), aggregation: "secagg", participants: { proplets: ["p1"] }, k: 1 })).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/at least 2 participants/) });
      await expect(s.client.createExperiment({ ...(await experimentBody()), model: { shape: [31], weights: [1, 2] } })).rejects.toMatchObject({ status: 400 });
      await expect(s.client.createExperiment({ ...(await experimentBody()), model: { shape: [31], weights: new Array(31).fill(0), digest: `sha256:${"0".repeat(64)}` } })).rejects.toMatchObject({ status: 400 });
      await expect(s.client.createExperiment({ ...(await experimentBody()), k: 4 })).rejects.toMatchObject({ status: 400 });

      // Stop: a round waiting on a participant that never answers (p9 is no proplet here).
      const waiting = await s.client.createExperiment({ ...(await experimentBody({ participants: { proplets: ["p1", "p2", "p3", "p9"] }, k: 4, roundDeadlineMs: 120_000 })), start: true });
      await waitFor(async () => {
        const e = await s.client.getExperiment(waiting.id);
        const r1 = e.roundList?.[0];
        return r1 && r1.state === "training" && r1.updates.filter((u) => u.state === "accepted").length === 3 ? true : null;
      }, 60_000, "three updates of round 1");
      const stopped = await s.client.stopExperiment(waiting.id);
      expect(stopped).toMatchObject({ state: "stopped", reason: "stopped by request" });
      const after = await s.client.getExperiment(waiting.id);
      expect(after.roundList![0]).toMatchObject({ state: "failed", reason: "experiment stopped by request" });
      const p9 = after.roundList![0]!.updates.find((u) => u.propletId === "p9")!;
      expect(p9).toMatchObject({ state: "missing", reason: "experiment stopped by request" });
      expect((await s.client.getTask(p9.taskId!)).state).toBe("stopped");
      await expect(s.client.stopExperiment(waiting.id)).rejects.toMatchObject({ status: 409 });
    }, TIMEOUT_MS);
  },
);
