/**
 * The KBS audit log, read for the dashboard from the KBS admin API (GET /kbs/v0/admin/audit, the
 * `reader` role is enough). The manager holds either a fixed admin token or an admin private key,
 * with which it mints a short-lived token per call (the KBS refuses long-lived tokens); a key with
 * only the KBS's `reader` role is all it needs.
 * Bounded: one request at a time per page view, a timeout, a reply size limit.
 */
import { createPrivateKey, randomUUID, type JsonWebKey, type KeyObject } from "node:crypto";
import { SignJWT } from "jose";
import type { AuditEntry } from "./pages/misc.js";

export interface KbsAuditSettings {
  url: string;
  /** A ready admin token (it expires: prefer a key). */
  token?: string;
  /** An admin private key (PKCS#8 PEM or private JWK) and its id in the KBS config: a reader token is minted per call. */
  key?: { id: string; pem?: string; jwk?: JsonWebKey };
}

const TIMEOUT_MS = 5000;
const MAX_REPLY_BYTES = 2 * 1024 * 1024;
const TOKEN_LIFETIME_S = 60;

export class KbsAudit {
  private readonly key: KeyObject | null;

  constructor(readonly settings: KbsAuditSettings) {
    const k = settings.key;
    this.key = k?.pem ? createPrivateKey(k.pem) : k?.jwk ? createPrivateKey({ key: k.jwk, format: "jwk" }) : null;
  }

  private async token(): Promise<string> {
    if (this.key && this.settings.key) {
      const now = Math.floor(Date.now() / 1000);
      // No roles claim: the token has the key's roles (the KBS narrows a claim to the key's roles, so
      // claiming "reader" with an admin-only key would leave none). Give the dashboard a key with
      // only the reader role in the KBS config.
      return new SignJWT({})
        .setProtectedHeader({ alg: this.key.asymmetricKeyType === "ed25519" ? "EdDSA" : "ES256", typ: "JWT", kid: this.settings.key.id })
        .setSubject("manager-dashboard")
        .setIssuedAt(now)
        .setExpirationTime(now + TOKEN_LIFETIME_S)
        .setJti(randomUUID())
        .sign(this.key);
    }
    if (this.settings.token) return this.settings.token;
    throw new Error("no KBS admin token or key configured");
  }

  async recent(options: { limit: number; event?: string | undefined }): Promise<AuditEntry[]> {
    const q = new URLSearchParams({ limit: String(options.limit) });
    if (options.event) q.set("event", options.event);
    const url = new URL(`/kbs/v0/admin/audit?${q}`, this.settings.url);
    const res = await fetch(url, { headers: { authorization: `Bearer ${await this.token()}`, accept: "application/json" }, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "error" });
    const length = Number(res.headers.get("content-length") ?? "0");
    if (length > MAX_REPLY_BYTES) throw new Error(`the KBS audit reply is larger than ${MAX_REPLY_BYTES} bytes`);
    const text = await res.text();
    if (text.length > MAX_REPLY_BYTES) throw new Error(`the KBS audit reply is larger than ${MAX_REPLY_BYTES} bytes`);
    if (!res.ok) {
      let detail = text.slice(0, 300);
      try {
        const body = JSON.parse(text) as { detail?: unknown };
        if (typeof body.detail === "string") detail = body.detail;
      } catch {
        // not JSON: the first characters say enough
      }
      throw new Error(`the KBS refused the audit read (HTTP ${res.status}): ${detail}`);
    }
    const body = JSON.parse(text) as { entries?: unknown };
    return Array.isArray(body.entries) ? (body.entries as AuditEntry[]) : [];
  }
}
