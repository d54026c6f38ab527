import { describe, expect, it } from "vitest";
import { CLIENT_ENV, clientEnv } from "../client-env.js";

describe("client environment", () => {
  it("reads each setting from its one variable, and treats empty as unset", () => {
    expect(clientEnv({ PROPELLER_MANAGER_URL: "http://m:7070", PROPELLER_TOKEN: "", PROPELLER_KBS_URL: "http://k", OTHER: "x" })).toEqual({
      managerUrl: "http://m:7070",
      kbsUrl: "http://k",
    });
    expect(clientEnv({})).toEqual({});
  });

  it("names every variable PROPELLER_*, each once", () => {
    const names = Object.values(CLIENT_ENV);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(name).toMatch(/^PROPELLER_[A-Z_]+$/);
  });
});
