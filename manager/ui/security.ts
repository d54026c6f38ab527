/**
 * The dashboard's browser-facing rules in one place: response headers (a strict
 * Content-Security-Policy: nothing but this server's own files, no inline script or style), the
 * session cookie, and the CSRF token of a session.
 *
 * The session cookie holds the credential the user pasted (an API key or a JWT), HttpOnly so no
 * script in the page can read it, SameSite=Strict so no other site's page can make the browser send
 * it, Path=/ui so the REST API never sees it (the API keeps reading only `Authorization`), and Secure
 * when the manager serves TLS. Keeping the credential itself rather than a server-side session id
 * means there is nothing to store or share between managers, and every request is authenticated
 * afresh by the same key store, so a revoked key stops working in the dashboard at once.
 * (sessionStorage + an Authorization header was the alternative: it needs script on every page
 * load and leaves the key readable by any script that ever runs in the page.)
 */
import { createHash, timingSafeEqual } from "node:crypto";

export const SESSION_COOKIE = "propeller_ui";
/** A browser session at most this long (the cookie also ends when the browser closes). */
export const SESSION_MAX_AGE_S = 8 * 3600;
/** Longest credential the login form accepts (cookies are limited to about 4 KiB). */
export const MAX_CREDENTIAL_CHARS = 3500;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Headers on every dashboard response. */
export function securityHeaders(): Record<string, string> {
  return {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on form posts, and the origin check needs the origin.
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
  };
}

export interface CookieOptions {
  httpOnly: true;
  sameSite: "strict";
  secure: boolean;
  path: "/ui";
  maxAge?: number;
}

export function sessionCookieOptions(secure: boolean): CookieOptions {
  return { httpOnly: true, sameSite: "strict", secure, path: "/ui", maxAge: SESSION_MAX_AGE_S };
}

/**
 * The session's CSRF token: a hash of its credential, so it needs no storage, differs per key, and
 * reveals nothing of the key. Forms carry it in a hidden field; a POST without it is refused, on top
 * of SameSite=Strict, so an action is never forgeable from another site.
 */
export function csrfToken(credential: string): string {
  return createHash("sha256").update("propeller-ui-csrf\0").update(credential).digest("base64url");
}

export function csrfMatches(credential: string, presented: unknown): boolean {
  if (typeof presented !== "string") return false;
  const want = Buffer.from(csrfToken(credential));
  const got = Buffer.from(presented);
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * A state-changing request must come from this origin: browsers send `Origin` on every POST, and
 * `Sec-Fetch-Site` when they know it. A request that says it came from elsewhere is refused;
 * one that says nothing (a non-browser client) still needs the CSRF token.
 */
export function sameOrigin(headers: Record<string, string | string[] | undefined>, host: string | undefined): boolean {
  const site = headers["sec-fetch-site"];
  if (typeof site === "string" && site !== "same-origin" && site !== "none") return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  if (typeof origin !== "string" || origin === "null" || !host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
