import { randomBytes } from "node:crypto";
import pg from "pg";

/** Server the tests use: the machine's PostgreSQL (trust auth), unless PROPELLER_TEST_PG says otherwise. */
export const TEST_PG_ADMIN_URL = process.env.PROPELLER_TEST_PG ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  /** Connection URL of a fresh, empty database that only this test uses. */
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** Creates an isolated database for one test file; `drop()` removes it (and any open sessions). */
export async function createTestDatabase(prefix = "propeller_test", adminUrl = TEST_PG_ADMIN_URL): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
