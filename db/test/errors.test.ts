import { describe, expect, it } from "vitest";
import { DatabaseError } from "pg";
import { databaseTrouble, troubleMessage } from "../errors.js";

/** A server error as pg raises it (the class and fields of its protocol parser). */
function serverError(code: string, message: string): DatabaseError {
  const err = new DatabaseError(message, message.length, "error");
  err.code = code;
  err.severity = "ERROR";
  return err;
}

describe("databaseTrouble", () => {
  it("names the database's own state: disk full, out of resources, shutting down or unreachable", () => {
    expect(databaseTrouble(serverError("53100", 'could not extend file "base/5/16384": No space left on device'))).toBe("disk_full");
    expect(databaseTrouble(serverError("53300", "sorry, too many clients already"))).toBe("out_of_resources");
    expect(databaseTrouble(serverError("57P01", "terminating connection due to administrator command"))).toBe("unavailable");
    expect(databaseTrouble(serverError("08006", "connection failure"))).toBe("unavailable");
    expect(databaseTrouble(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED", syscall: "connect" }))).toBe("unavailable");
    expect(databaseTrouble(new Error("Connection terminated unexpectedly"))).toBe("unavailable");
  });

  it("leaves every other error alone: the request's own faults and the code's", () => {
    expect(databaseTrouble(serverError("23505", "duplicate key value violates unique constraint"))).toBeNull();
    expect(databaseTrouble(serverError("22P02", "invalid input syntax for type uuid"))).toBeNull();
    expect(databaseTrouble(Object.assign(new Error("body too large"), { code: "FST_ERR_CTP_BODY_TOO_LARGE" }))).toBeNull();
    expect(databaseTrouble(new TypeError("x is undefined"))).toBeNull();
    expect(databaseTrouble("a string")).toBeNull();
    expect(databaseTrouble(null)).toBeNull();
  });

  it("says what happened and what to do", () => {
    expect(troubleMessage("disk_full")).toMatch(/out of disk space.*nothing was stored.*retry/);
    expect(troubleMessage("unavailable")).toMatch(/retry/);
  });
});
