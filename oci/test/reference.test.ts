import { describe, expect, it } from "vitest";
import { formatReference, parseReference } from "../reference.js";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it.each([
    ["localhost:5000/app:1.0", { registry: "localhost:5000", repository: "app", tag: "1.0" }],
    [`127.0.0.1:5000/a/b@${D}`, { registry: "127.0.0.1:5000", repository: "a/b", digest: D }],
    [`ghcr.io/org/team/app:v1@${D}`, { registry: "ghcr.io", repository: "org/team/app", tag: "v1", digest: D }],
    ["Registry.Example.COM/x__y/z-1.2:Latest_1", { registry: "registry.example.com", repository: "x__y/z-1.2", tag: "Latest_1" }],
    ["registry/repo:tag", { registry: "registry", repository: "repo", tag: "tag" }],
    ["[::1]:5000/app:1", { registry: "[::1]:5000", repository: "app", tag: "1" }],
  ])("%s", (input, expected) => {
    const ref = parseReference(input);
    expect(ref).toEqual(expected);
    expect(parseReference(formatReference(ref))).toEqual(ref);
  });

  it.each([
    ["", /empty/],
    ["app:1.0", /names no registry/],
    ["ubuntu", /names no registry/],
    ["localhost:5000/app", /neither a tag nor a digest/],
    ["localhost:5000/App:1", /repository component "App"/],
    ["localhost:5000/a//b:1", /repository component ""/],
    ["localhost:5000/a-:1", /repository component "a-"/],
    ["localhost:5000/a:-x", /tag "-x"/],
    [`localhost:5000/a:${"t".repeat(129)}`, /tag/],
    ["localhost:5000/a@sha256:abc", /digest must be/],
    [`localhost:5000/a@sha512:${"a".repeat(128)}`, /digest must be/],
    [`localhost:5000/a@sha256:${"A".repeat(64)}`, /digest must be/],
    ["localhost:99999/a:1", /port "99999"/],
    ["localhost:/a:1", /port ""/],
    ["-bad.host/a:1", /not a valid host name/],
    ["host_name/a:1", /not a valid host name/],
    ["localhost:5000/:1", /names no repository/],
    [`r.io/${"a".repeat(260)}:1`, /exceed 255/],
  ])("rejects %s", (input, message) => {
    expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: "oci_reference_invalid", message: expect.stringMatching(message) }));
  });
});
