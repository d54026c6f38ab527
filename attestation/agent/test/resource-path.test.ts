import { describe, expect, it } from "vitest";
import { KbsClientError, resourcePath } from "../index.js";

describe("resourcePath", () => {
  it("accepts kbs:/// URIs and bare paths whose segments match the protocol's pattern", () => {
    expect(resourcePath("kbs:///default/key/app-1.0")).toBe("default/key/app-1.0");
    expect(resourcePath("a_b/c-d/e.f")).toBe("a_b/c-d/e.f");
  });
  it.each(["kbs:///a/b", "a/b/c/d", "a/../c", "a/b/.c", "a/b/c?x=1", "a/ b/c", "kbs://host/a/b/c"])("refuses %s", (bad) => {
    expect(() => resourcePath(bad)).toThrow(KbsClientError);
  });
});
