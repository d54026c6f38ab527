/**
 * The dashboard's settings (manager config `ui`), validated with the rest of the manager's
 * configuration (manager/config.ts). On by default: it serves nothing without a valid credential.
 */
import type { KbsAuditSettings } from "./kbs.js";

export interface UiConfigInput {
  /** Serve the dashboard at /ui (default true). */
  enabled?: boolean;
  /** Show this KBS's audit log (its admin API, with a fixed admin token or an admin key). */
  kbs?: KbsAuditSettings;
}

export interface UiConfig {
  enabled: boolean;
  kbs: KbsAuditSettings | null;
}

export function resolveUiConfig(input: UiConfigInput | undefined, problems: string[]): UiConfig {
  const ui = input ?? {};
  if (ui.enabled !== undefined && typeof ui.enabled !== "boolean") problems.push("ui.enabled: must be true or false");
  let kbs: KbsAuditSettings | null = null;
  if (ui.kbs !== undefined) {
    const k = ui.kbs;
    let url: URL | null = null;
    try {
      url = new URL(String(k.url));
    } catch {
      problems.push(`ui.kbs.url: must be an http(s) URL (got ${JSON.stringify(String(k.url).slice(0, 100))})`);
    }
    if (url && url.protocol !== "https:" && !(url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname))) {
      problems.push("ui.kbs.url: must be https:// (http:// only on loopback): the admin token crosses the network");
    }
    // Never echo a token or key.
    if (!k.token && !k.key) problems.push("ui.kbs: needs an admin token (ui.kbs.token) or an admin key (ui.kbs.key: {id, pem or jwk})");
    if (k.key && (typeof k.key.id !== "string" || k.key.id === "" || (!k.key.pem && !k.key.jwk))) problems.push("ui.kbs.key: needs id and pem (PKCS#8) or jwk (the private admin key)");
    if (url) kbs = { ...k, url: url.href };
  }
  return { enabled: ui.enabled ?? true, kbs };
}
