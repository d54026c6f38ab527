/**
 * Database errors that are the database's state, not the request's fault: it is out of disk or
 * memory, shutting down, starting up, or unreachable. A caller answers these as "unavailable, retry
 * later" (HTTP 503) rather than as an internal error, and can say which it is.
 */

export type DatabaseTrouble = "disk_full" | "out_of_resources" | "unavailable";

/** SQLSTATE classes and codes (PostgreSQL appendix A) that mean the database cannot serve now. */
const BY_SQLSTATE: ReadonlyArray<[RegExp, DatabaseTrouble]> = [
  [/^53100$/, "disk_full"],
  [/^53/, "out_of_resources"], // out of memory, too many connections, configuration limit
  [/^08/, "unavailable"], // connection exceptions
  [/^57P0[1-4]$/, "unavailable"], // admin/crash shutdown, cannot connect now, database dropped
];

/** Socket errors of a database that is down or being restarted. */
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND"]);

const CONNECTION_LOST = /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i;

/** What kind of trouble `err` shows, or null for any other error. */
export function databaseTrouble(err: unknown): DatabaseTrouble | null {
  if (typeof err !== "object" || err === null) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    for (const [pattern, trouble] of BY_SQLSTATE) if (/^[0-9A-Z]{5}$/.test(code) && pattern.test(code)) return trouble;
    if (NETWORK.has(code)) return "unavailable";
  }
  const message = (err as { message?: unknown }).message;
  return typeof message === "string" && CONNECTION_LOST.test(message) ? "unavailable" : null;
}

/** What to tell a client, per trouble: what happened and what to do. */
export function troubleMessage(trouble: DatabaseTrouble): string {
  switch (trouble) {
    case "disk_full":
      return "the database is out of disk space: nothing was stored; retry once an operator has freed space";
    case "out_of_resources":
      return "the database is out of resources (memory or connections): nothing was stored; retry shortly";
    case "unavailable":
      return "the database cannot be reached right now (restarting or down): retry shortly";
  }
}
