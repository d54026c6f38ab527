import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate, openDatabase, type Database } from "../index.js";
import { MIGRATIONS_DIR } from "../../testing/paths.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";

const FIXTURE = join(MIGRATIONS_DIR, "test-fixture");

// The same suite against both implementations of the seam.
for (const kind of ["postgres", "pglite"] as const) {
  describe(`database (${kind})`, () => {
    let testDb: TestDatabase | undefined;
    let db: Database;

    beforeAll(async () => {
      if (kind === "postgres") {
        testDb = await createTestDatabase();
        db = await openDatabase(testDb.url);
      } else {
        db = await openDatabase("pglite://memory");
      }
    });
    afterAll(async () => {
      await db?.close();
      await testDb?.drop();
    });

    it("applies migrations once and records them", async () => {
      const first = await migrate(db, FIXTURE, "fixture");
      expect(first.applied).toEqual(["0001_things.sql", "0002_more.sql"]);
      const second = await migrate(db, FIXTURE, "fixture");
      expect(second.applied).toEqual([]);
      expect(second.alreadyApplied).toHaveLength(2);
      await db.query("INSERT INTO things (name, body) VALUES ($1, $2)", ["abc", { x: 1 }]);
      const { rows } = await db.query<{ name: string; body: { x: number } }>("SELECT name, body FROM things");
      expect(rows).toEqual([{ name: "ABC", body: { x: 1 } }]);
    });

    it("rolls a failed transaction back", async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO things (name) VALUES ('rollback-me')");
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      const { rowCount } = await db.query("SELECT 1 FROM things WHERE name = 'ROLLBACK-ME'");
      expect(rowCount).toBe(0);
    });
  });
}

describe("openDatabase", () => {
  it("refuses unknown URLs without echoing a password", async () => {
    await expect(openDatabase("mysql://u:secret@h/db")).rejects.toThrow(/unsupported database URL "mysql:\/\/u:\*\*\*@h\/db"/);
  });
});

describe("migrate from several processes at once (PostgreSQL)", () => {
  it("applies each migration exactly once when 8 connections start on a fresh database together", async () => {
    const testDb = await createTestDatabase();
    const dbs = await Promise.all(Array.from({ length: 8 }, () => openDatabase(testDb.url)));
    try {
      // Managers started together (docker-compose, two replicas) all migrate the same empty database.
      const reports = await Promise.all(dbs.map((db) => migrate(db, FIXTURE, "fixture")));
      expect(reports.flatMap((r) => r.applied).sort()).toEqual(["0001_things.sql", "0002_more.sql"]);
      for (const r of reports) expect([...r.applied, ...r.alreadyApplied].sort()).toEqual(["0001_things.sql", "0002_more.sql"]);
      const { rows } = await dbs[0]!.query<{ n: string }>("SELECT count(*)::text AS n FROM schema_migrations WHERE scope = 'fixture'");
      expect(rows[0]!.n).toBe("2");
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
      await testDb.drop();
    }
  });
});
