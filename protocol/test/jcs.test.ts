import { describe, expect, it } from "vitest";
import { canonicalJson, canonicalSha384 } from "../jcs.js";

// Vectors from KBS-PROTOCOL.md.
describe("JCS", () => {
  it("reproduces the documented JCS check", () => {
    expect(canonicalJson({ b: 1, a: "test", c: { d: "e" } })).toBe('{"a":"test","b":1,"c":{"d":"e"}}');
    expect(canonicalSha384({ b: 1, a: "test", c: { d: "e" } }).toString("hex")).toBe(
      "e71ce8e70d814ba6639c3612ebee0ff1f76f650f8dbb5e47157e0f3f525cd22c4597480a186427c813ca941da78870c3",
    );
  });
  it("reproduces the worked runtime-data example", () => {
    const runtimeData = {
      "additional-evidence": "",
      nonce: "bm9uY2U=",
      "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ECDH-ES+A256KW", x: "AAAA", y: "BBBB" },
    };
    const hash = canonicalSha384(runtimeData);
    expect(hash.toString("hex")).toBe(
      "d20490d30e5f16cba693abc1ca3c31ed977d2722d0adf01a980972d16913dc38f103c1f12abf477df0523af2b12e4b43",
    );
    expect(hash.toString("base64")).toBe("0gSQ0w5fFsumk6vByjwx7Zd9JyLQrfAamAly0WkT3DjxA8HxKr9HffBSOvKxLktD");
  });
});
