import { describe, expect, it } from "vitest";
import {
  KBS_PROTOCOL_VERSION,
  KBS_RESOURCE_SEGMENT_PATTERN,
  KBS_RESOURCE_URI_PATTERN,
  KbsResourceError,
  PropellerError,
  formatKbsResourcePath,
  formatKbsResourceUri,
  isKbsResourceSegment,
  isKbsResourceUri,
  kbsResourcePath,
  parseKbsResourceUri,
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

describe("parseKbsResourceUri", () => {
  it("splits a kbs:/// URI into repository, type and tag", () => {
    expect(parseKbsResourceUri("kbs:///default/key/app-1.0")).toEqual({ repository: "default", type: "key", tag: "app-1.0" });
  });
  it("accepts a bare path only when asked to", () => {
    expect(parseKbsResourceUri("a_b/c-d/e.f", { allowBarePath: true })).toEqual({ repository: "a_b", type: "c-d", tag: "e.f" });
    expect(parseKbsResourceUri("kbs:///a_b/c-d/e.f", { allowBarePath: true })).toEqual({ repository: "a_b", type: "c-d", tag: "e.f" });
    expect(() => parseKbsResourceUri("a_b/c-d/e.f")).toThrow(KbsResourceError);
    expect(isKbsResourceUri("a_b/c-d/e.f")).toBe(false);
  });
  it.each(["kbs:///a/b", "a/b/c/d", "a/../c", "a/b/.c", "a/b/c?x=1", "a/ b/c", "kbs://host/a/b/c", "kbs:///a/b/c/", "kbs:///a//c", "kbs:///kbs:///a/b/c", "", "kbs:///"])(
    "refuses %j (URI or bare path)",
    (bad) => {
      expect(tryParseKbsResourceUri(bad, { allowBarePath: true })).toBeUndefined();
      expect(() => parseKbsResourceUri(bad, { allowBarePath: true })).toThrow(KbsResourceError);
      expect(isKbsResourceUri(bad)).toBe(false);
    },
  );
  it("throws a typed PropellerError naming the input", () => {
    try {
      parseKbsResourceUri("kbs:///a/b");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PropellerError);
      expect((err as KbsResourceError).code).toBe("kbs_resource_invalid");
      expect((err as KbsResourceError).resource).toBe("kbs:///a/b");
    }
  });
});

describe("formatting", () => {
  const ref = { repository: "default", type: "key", tag: "app-1.0" };
  it("formats the path, the URI and the KBS resource endpoint", () => {
    expect(formatKbsResourcePath(ref)).toBe("default/key/app-1.0");
    expect(formatKbsResourceUri(ref)).toBe("kbs:///default/key/app-1.0");
    expect(kbsResourcePath(ref)).toBe("/kbs/v0/resource/default/key/app-1.0");
  });
  it("round-trips", () => {
    expect(parseKbsResourceUri(formatKbsResourceUri(ref))).toEqual(ref);
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
