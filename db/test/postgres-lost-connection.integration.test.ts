/**
 * The server dropping a connection in the middle of a transaction (what a PostgreSQL restart does
 * to every session): the transaction fails with the server's error, the process keeps running, the
 * broken connection is not reused, and the next transaction works.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { describe } from "vitest";
import pg from "pg";
import { openDatabase, type Database } from "../index.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";

describe("PostgreSQL: a connection lost inside a transaction", () => {
  let testDb: TestDatabase;
  let db: Database;
  let admin: pg.Client;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => void uncaught.push(err);

  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = await openDatabase(testDb.url);
    admin = new pg.Client(testDb.url);
    await admin.connect();
    process.on("uncaughtException", onUncaught);
  });
  afterAll(async () => {
    process.off("uncaughtException", onUncaught);
    await admin?.end();
    await db?.close();
    await testDb?.drop();
  });

  it("fails the transaction with the server's error and keeps the process and the pool working", async () => {
    const attempt = db.transaction(async (tx) => {
      const { rows } = await tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      // The transaction waits on other work while the server ends its session.
      await admin.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
      await new Promise((r) => setTimeout(r, 300));
      await tx.query("SELECT 1");
    });
    await expect(attempt).rejects.toThrow(/terminat|connection error|closed/i);
    await new Promise((r) => setTimeout(r, 100));
    expect(uncaught).toEqual([]);
    // Every later transaction gets a live connection (the dead one was discarded).
    for (let i = 0; i < 12; i++) expect(await db.transaction(async (tx) => (await tx.query<{ v: number }>("SELECT 1 AS v")).rows[0]!.v)).toBe(1);
  });
});
