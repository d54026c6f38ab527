/**
 * Chunked artifact storage (migration 0008, manager/delivery/store.ts and upload.ts) against BOTH
 * implementations of the database seam: the embedded PGlite and real PostgreSQL.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../db/index.js";
import { sha256Digest } from "../../protocol/index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { openManagerDatabase } from "../store/open.js";
import * as artifacts from "../store/artifacts.js";
import * as runs from "../store/runs.js";
import * as tasks from "../store/tasks.js";
import { DELIVERY_CHUNK_BYTES } from "../delivery/location.js";
import { artifactInfo, propletHasRunOf, readChunk } from "../delivery/store.js";
import { storeUpload } from "../delivery/upload.js";
import type { TaskSpec } from "../tasks/model.js";

/** A body arriving in uneven pieces, as a network stream does. */
const body = (bytes: Buffer) => Readable.from((function* () {
  for (let at = 0; at < bytes.byteLength; ) {
    const n = 1000 + ((at * 7919) % 90_000);
    yield bytes.subarray(at, at + n);
    at += n;
  }
})());

for (const kind of ["pglite", "postgres"] as const) {
  describe(`chunked artifact store (${kind})`, () => {
    let testDb: TestDatabase | undefined;
    let db: Database;

    beforeAll(async () => {
      if (kind === "postgres") testDb = await createTestDatabase("manager_delivery");
      db = await openManagerDatabase(testDb ? testDb.url : "pglite://memory");
    });
    afterAll(async () => {
      await db?.close();
      await testDb?.drop();
    });

    it("stores a streamed upload in chunks and reads any chunk back exactly", async () => {
      const bytes = randomBytes(3 * DELIVERY_CHUNK_BYTES + 12_345);
      const digest = sha256Digest(bytes);
      expect(await storeUpload(db, digest, body(bytes), 64 << 20)).toEqual({ digest, size: bytes.byteLength, created: true });
      expect(await artifactInfo(db, digest)).toEqual({ size: bytes.byteLength, chunkSize: DELIVERY_CHUNK_BYTES });
      for (let i = 0; i < 4; i++) {
        const chunk = await readChunk(db, digest, i, DELIVERY_CHUNK_BYTES);
        expect(chunk!.equals(bytes.subarray(i * DELIVERY_CHUNK_BYTES, (i + 1) * DELIVERY_CHUNK_BYTES)), `chunk ${i}`).toBe(true);
      }
      expect(await readChunk(db, digest, 4, DELIVERY_CHUNK_BYTES)).toBeNull();
      // The same bytes again: nothing new stored; inline delivery of them reassembles the chunks.
      expect((await storeUpload(db, digest, body(bytes), 64 << 20)).created).toBe(false);
      expect((await artifacts.getArtifact(db, digest))!.equals(bytes)).toBe(true);
    });

    it("a wrong digest, an empty or an oversized body stores nothing", async () => {
      const bytes = randomBytes(DELIVERY_CHUNK_BYTES + 1);
      await expect(storeUpload(db, sha256Digest("other"), body(bytes), 64 << 20)).rejects.toMatchObject({ code: "digest_mismatch" });
      expect(await artifactInfo(db, sha256Digest("other"))).toBeNull();
      await expect(storeUpload(db, sha256Digest(""), Readable.from([]), 64 << 20)).rejects.toMatchObject({ code: "empty_artifact" });
      await expect(storeUpload(db, sha256Digest(bytes), body(bytes), DELIVERY_CHUNK_BYTES)).rejects.toMatchObject({ code: "too_large" });
      expect(await artifactInfo(db, sha256Digest(bytes))).toBeNull();
    });

    it("inline artifacts are served by slices; a proplet may read only artifacts of its active runs", async () => {
      const bytes = randomBytes(DELIVERY_CHUNK_BYTES + 500);
      const digest = sha256Digest(bytes);
      await artifacts.putArtifact(db, digest, bytes);
      expect((await readChunk(db, digest, 1, DELIVERY_CHUNK_BYTES))!.equals(bytes.subarray(DELIVERY_CHUNK_BYTES))).toBe(true);

      const spec: TaskSpec = {
        runtime: "wasi-p1", artifact: { digest, size: bytes.byteLength, location: "mqtt" }, entrypoint: { kind: "wasi" }, args: [], env: {}, stdin: "",
        limits: { timeoutMs: 1000, memoryBytes: 65536, outputBytes: 1024 }, target: null, requirements: { tags: [], tee: null }, onPropletLoss: "fail",
      };
      const now = new Date();
      await tasks.insertTask(db, { id: "deliv-1", name: "d", spec, now });
      await runs.insertRun(db, { id: "deliv-run", taskId: "deliv-1", attempt: 1, receiptNonce: "n", now });
      expect(await propletHasRunOf(db, "p1", digest)).toBe(false); // queued: nobody's yet
      await runs.updateRunIf(db, "deliv-run", "queued", { state: "scheduled", propletId: "p1", deliveries: 1, lastDeliveryAt: now });
      expect(await propletHasRunOf(db, "p1", digest)).toBe(true);
      expect(await propletHasRunOf(db, "p2", digest)).toBe(false);
      await runs.updateRunIf(db, "deliv-run", "scheduled", { state: "completed", finishedAt: now }, "p1");
      expect(await propletHasRunOf(db, "p1", digest)).toBe(false); // finished: no more chunks
    });
  });
}
