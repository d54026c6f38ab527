import { describe, expect, it } from "vitest";
import {
  KBS_PROTOCOL_VERSION,
  KBS_RESOURCE_SEGMENT_PATTERN,
  KBS_RESOURCE_URI_PATTERN,
  formatKbsResourcePath,
  isKbsResourceSegment,
  isKbsResourceUri,
  tryParseKbsResourceUri,
} from "../index.js";

describe("KBS protocol version", () => {
  it("is 0.4.0", () => {
    expect(KBS_PROTOCOL_VERSION).toBe("0.4.0");
  });
});

describe("KBS resource segments", () => {
  it.each(["default", "key", "app-1.0", "a_b", "c-d", "e.f", "-x", "_", "0", "a..b", "A.z-_9"])("accepts %s", (s) => {
    expect(isKbsResourceSegment(s)).toBe(true);
  });
  it.each(["", ".", "..", ".c", "a b", " a", "a/b", "a?x=1", "a:b", "é", "a\n", "a%2F"])("refuses %j", (s) => {
    expect(isKbsResourceSegment(s)).toBe(false);
  });
});

describe("tryParseKbsResourceUri", () => {
  it("splits a kbs:/// URI into repository, type and tag", () => {
    expect(tryParseKbsResourceUri("kbs:///default/key/app-1.0")).toEqual({ repository: "default", type: "key", tag: "app-1.0" });
  });
  it("accepts a bare path only when asked to", () => {
    expect(tryParseKbsResourceUri("a_b/c-d/e.f", { allowBarePath: true })).toEqual({ repository: "a_b", type: "c-d", tag: "e.f" });
    expect(tryParseKbsResourceUri("kbs:///a_b/c-d/e.f", { allowBarePath: true })).toEqual({ repository: "a_b", type: "c-d", tag: "e.f" });
    expect(tryParseKbsResourceUri("a_b/c-d/e.f")).toBeUndefined();
    expect(isKbsResourceUri("a_b/c-d/e.f")).toBe(false);
  });
  it.each(["kbs:///a/b", "a/b/c/d", "a/../c", "a/b/.c", "a/b/c?x=1", "a/ b/c", "kbs://host/a/b/c", "kbs:///a/b/c/", "kbs:///a//c", "kbs:///kbs:///a/b/c", "", "kbs:///"])(
    "refuses %j (URI or bare path)",
    (bad) => {
      expect(tryParseKbsResourceUri(bad, { allowBarePath: true })).toBeUndefined();
      expect(isKbsResourceUri(bad)).toBe(false);
    },
  );
});

describe("formatting", () => {
  const ref = { repository: "default", type: "key", tag: "app-1.0" };
  it("formats the path, which parses back to the same resource", () => {
    expect(formatKbsResourcePath(ref)).toBe("default/key/app-1.0");
    expect(tryParseKbsResourceUri(`kbs:///${formatKbsResourcePath(ref)}`)).toEqual(ref);
  });
});

describe("schema patterns", () => {
  it("are the exact strings the schemas published before", () => {
    expect(KBS_RESOURCE_SEGMENT_PATTERN).toBe("^[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*$");
    expect(KBS_RESOURCE_URI_PATTERN).toBe("^kbs:///[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*/[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*/[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*$");
  });
  it.each(["kbs:///default/key/app-1.0", "kbs:///a/b/c", "kbs:///a/b", "kbs:///a/b/.c", "kbs://host/a/b/c", "a/b/c", "kbs:///a/b/c?x", "kbs:///a/b/c\n"])(
    "agree with the functions on %j (both with and without the u flag)",
    (s) => {
      expect(new RegExp(KBS_RESOURCE_URI_PATTERN).test(s)).toBe(isKbsResourceUri(s));
      expect(new RegExp(KBS_RESOURCE_URI_PATTERN, "u").test(s)).toBe(isKbsResourceUri(s));
    },
  );
});
