/** The dashboard's browser-facing rules: CSP and headers, the cookie, CSRF and origin checks. */
import { describe, expect, it } from "vitest";
import { CONTENT_SECURITY_POLICY, csrfMatches, csrfToken, sameOrigin, securityHeaders, sessionCookieOptions } from "../security.js";

describe("dashboard security rules", () => {
  it("the CSP allows only this origin's files: no inline script or style, no eval, no framing", () => {
    const directives = new Map(CONTENT_SECURITY_POLICY.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")] as const));
    expect(directives.get("default-src")).toBe("'self'");
    expect(directives.get("script-src")).toBe("'self'");
    expect(directives.get("style-src")).toBe("'self'");
    expect(directives.get("object-src")).toBe("'none'");
    expect(directives.get("frame-ancestors")).toBe("'none'");
    expect(directives.get("form-action")).toBe("'self'");
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|\*|https?:|nonce-|sha256-/);
    const headers = securityHeaders();
    expect(headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(headers).toMatchObject({ "x-content-type-options": "nosniff", "x-frame-options": "DENY", "cache-control": "no-store" });
  });

  it("the session cookie is HttpOnly, SameSite=Strict, for /ui only, Secure with TLS", () => {
    expect(sessionCookieOptions(false)).toMatchObject({ httpOnly: true, sameSite: "strict", path: "/ui", secure: false });
    expect(sessionCookieOptions(true).secure).toBe(true);
  });

  it("the CSRF token is bound to the credential and compared exactly", () => {
    const a = csrfToken("prop_a_secret");
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a).not.toContain("secret");
    expect(csrfToken("prop_b_secret")).not.toBe(a);
    expect(csrfMatches("prop_a_secret", a)).toBe(true);
    expect(csrfMatches("prop_b_secret", a)).toBe(false);
    expect(csrfMatches("prop_a_secret", a.slice(1))).toBe(false);
    expect(csrfMatches("prop_a_secret", undefined)).toBe(false);
    expect(csrfMatches("prop_a_secret", [a])).toBe(false);
  });

  it("a request from another site is refused; one from this origin, or a non-browser client, passes", () => {
    const host = "127.0.0.1:7070";
    expect(sameOrigin({ origin: "http://127.0.0.1:7070", "sec-fetch-site": "same-origin" }, host)).toBe(true);
    expect(sameOrigin({}, host)).toBe(true);
    expect(sameOrigin({ origin: "https://evil.example" }, host)).toBe(false);
    expect(sameOrigin({ origin: "null" }, host)).toBe(false);
    expect(sameOrigin({ origin: "http://127.0.0.1:7070", "sec-fetch-site": "cross-site" }, host)).toBe(false);
    expect(sameOrigin({ "sec-fetch-site": "same-site" }, host)).toBe(false);
    expect(sameOrigin({ origin: "not a url" }, host)).toBe(false);
  });
});
