import { flattenedDecrypt, decodeJwt, type FlattenedJWE } from "jose";
import type { Logger } from "pino";
import { canonicalSha384 } from "../../protocol/jcs.js";
import { KBS_PROTOCOL_VERSION, KBS_RESOURCE_PATH_PREFIX, formatKbsResourcePath, tryParseKbsResourceUri } from "../../protocol/kbs.js";
import type { Attester } from "../attester.js";
import { KbsClientError } from "./errors.js";
import type { AttestedKeys } from "./keys.js";
import { messageOf } from "../../lib/errors.js";
import { ATTR, SPAN } from "../../protocol/trace.js";
import { inSpan, traceHeaders, tracer } from "../../lib/tracing/spans.js";

const agentTracer = tracer("attestation-agent");

export { KBS_PROTOCOL_VERSION };

export interface KbsClientOptions {
  /** Base URL of the KBS, e.g. https://kbs.example:8080 */
  url: string;
  attester: Attester;
  keys: AttestedKeys;
  /** More runtime data to bind into the evidence (e.g. the proplet id). */
  extraRuntimeData?: Record<string, unknown>;
  timeoutMs?: number;
  /** Renew the token this long before it expires. */
  tokenMarginMs?: number;
  maxResourceBytes?: number;
  /**
   * How long a resource fetch keeps trying while the KBS cannot be reached (connection refused or
   * reset, a 5xx: a KBS restarting or failing over), with a growing pause between tries. Default
   * 10 s; 0 tries once. Refusals (401 after re-attesting, 403, 404, 429) are never retried here.
   */
  unavailableRetryMs?: number;
  logger?: Logger;
}

export interface Attestation {
  token: string;
  /** Expiry of the token (ms since the epoch). */
  expiresAt: number;
}

/**
 * The client side of the KBS protocol (KBS-PROTOCOL.md), so it works against our KBS and a stock
 * Trustee KBS alike: auth → nonce → evidence binding SHA-384(JCS(runtime-data)) → EAR token →
 * resources as JWEs encrypted to the attested key. The token is cached until it expires; a 401
 * re-attests once; a 403 is final.
 */
export class KbsClient {
  private readonly base: string;
  private readonly timeoutMs: number;
  private cached: Attestation | undefined;
  private attesting: Promise<Attestation> | undefined;

  constructor(private readonly options: KbsClientOptions) {
    this.base = options.url.replace(/\/+$/, "");
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The runtime data this client binds (without the nonce), e.g. to show an operator. */
  runtimeData(nonce: string): Record<string, unknown> {
    return {
      ...this.options.extraRuntimeData,
      nonce,
      "tee-pubkey": this.options.keys.teePublicJwk,
      "receipt-pubkey": this.options.keys.receipt.publicJwk,
    };
  }

  /** A valid token, from the cache or by attesting now. Concurrent callers share one attestation. */
  async attest(force = false): Promise<Attestation> {
    const margin = this.options.tokenMarginMs ?? 10_000;
    if (!force && this.cached && this.cached.expiresAt - margin > Date.now()) return this.cached;
    if (!this.attesting) {
      this.attesting = inSpan(agentTracer, SPAN.attest, { [ATTR.tee]: this.options.attester.tee }, () => this.doAttest()).finally(() => (this.attesting = undefined));
    }
    this.cached = await this.attesting;
    return this.cached;
  }

  /** The token held now, if still valid (within the same margin `attest` uses); never attests. */
  heldToken(): string | null {
    const margin = this.options.tokenMarginMs ?? 10_000;
    return this.cached && this.cached.expiresAt - margin > Date.now() ? this.cached.token : null;
  }

  /**
   * Fetches and decrypts `kbs:///repo/type/tag` (or `repo/type/tag`), attesting first when no
   * token is held, and riding out a KBS that is briefly unreachable (see unavailableRetryMs).
   */
  async getResource(resource: string): Promise<Uint8Array> {
    const path = resourcePath(resource);
    const deadline = Date.now() + (this.options.unavailableRetryMs ?? 10_000);
    for (let pauseMs = 250; ; pauseMs = Math.min(pauseMs * 2, 2000)) {
      try {
        return await this.fetchResource(path);
      } catch (err) {
        if (!(err instanceof KbsClientError && err.code === "kbs_unavailable") || Date.now() + pauseMs > deadline) throw err;
        this.options.logger?.warn({ resource: path, retryInMs: pauseMs, err: err.message }, "KBS unavailable; trying again");
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
  }

  private async fetchResource(path: string): Promise<Uint8Array> {
    let attestation = await this.attest();
    for (let attempt = 0; ; attempt++) {
      const response = await this.request("GET", `${KBS_RESOURCE_PATH_PREFIX}${path}`, undefined, { authorization: `Bearer ${attestation.token}` });
      if (response.status === 401 && attempt === 0) {
        this.options.logger?.info({ resource: path }, "KBS asked to attest again");
        attestation = await this.attest(true);
        continue;
      }
      if (!response.ok) throw await errorFrom(response, `fetching resource ${path}`);
      const jwe = (await readJson(response, this.options.maxResourceBytes ?? 1024 * 1024)) as FlattenedJWE;
      try {
        const { plaintext } = await flattenedDecrypt(jwe, this.options.keys.teePrivateKey, {
          keyManagementAlgorithms: ["ECDH-ES+A256KW"],
          contentEncryptionAlgorithms: ["A256GCM"],
        });
        return plaintext;
      } catch (err) {
        throw new KbsClientError("kbs_protocol", `the KBS's JWE for ${path} does not decrypt with the attested key: ${messageOf(err)}`);
      }
    }
  }

  private async doAttest(): Promise<Attestation> {
    const { tee } = this.options.attester;
    const auth = await this.request("POST", "/kbs/v0/auth", {
      version: KBS_PROTOCOL_VERSION,
      tee,
      "extra-params": { "supported-hash-algorithms": ["sha384"] },
    });
    if (!auth.ok) throw await errorFrom(auth, "starting the KBS session (auth)");
    const challenge = (await readJson(auth, 64 * 1024)) as { nonce?: unknown };
    if (typeof challenge.nonce !== "string" || challenge.nonce.length === 0 || challenge.nonce.length > 1024) {
      throw new KbsClientError("kbs_protocol", "the KBS's auth reply has no nonce");
    }
    const cookie = sessionCookie(auth.headers.getSetCookie?.() ?? [auth.headers.get("set-cookie") ?? ""]);
    if (!cookie) throw new KbsClientError("kbs_protocol", "the KBS's auth reply set no kbs-session-id cookie");

    const runtimeData = this.runtimeData(challenge.nonce);
    const reportData = canonicalSha384({ "additional-evidence": "", ...runtimeData });
    const evidence = await this.options.attester.evidence(reportData);
    const attest = await this.request(
      "POST",
      "/kbs/v0/attest",
      { "runtime-data": runtimeData, "tee-evidence": { primary_evidence: evidence, additional_evidence: "" } },
      { cookie },
    );
    if (!attest.ok) throw await errorFrom(attest, `attesting ${tee} evidence`);
    const { token } = (await readJson(attest, 256 * 1024)) as { token?: unknown };
    if (typeof token !== "string") throw new KbsClientError("kbs_protocol", "the KBS's attest reply has no token");
    let exp: number | undefined;
    try {
      exp = decodeJwt(token).exp;
    } catch {
      throw new KbsClientError("kbs_protocol", "the KBS's token is not a JWT");
    }
    const expiresAt = exp === undefined ? Date.now() + 60_000 : exp * 1000;
    this.options.logger?.info({ tee, expiresAt: new Date(expiresAt).toISOString() }, "attested to the KBS");
    return { token, expiresAt };
  }

  private async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        // traceparent of the active span (none when tracing is off): the KBS's spans join this trace.
        headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...traceHeaders(), ...headers },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: "error",
      });
    } catch (err) {
      const reason = (err as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : String((err as Error).cause ?? messageOf(err));
      throw new KbsClientError("kbs_unavailable", `cannot reach the KBS at ${this.base} (${reason})`);
    }
  }
}

/** `kbs:///repo/type/tag` or `repo/type/tag` → `repo/type/tag`, each segment checked. */
export function resourcePath(resource: string): string {
  const parsed = tryParseKbsResourceUri(resource, { allowBarePath: true });
  if (!parsed) throw new KbsClientError("kbs_not_found", `"${resource.slice(0, 80)}" is not a KBS resource (kbs:///<repo>/<type>/<tag>)`);
  return formatKbsResourcePath(parsed);
}

function sessionCookie(setCookies: string[]): string | undefined {
  for (const header of setCookies) {
    const match = /(?:^|[;,]\s*)kbs-session-id=([^;,\s]+)/.exec(header);
    if (match) return `kbs-session-id=${match[1]}`;
  }
  return undefined;
}

async function readJson(response: Response, maxBytes: number): Promise<unknown> {
  const text = await response.text();
  if (text.length > maxBytes) throw new KbsClientError("kbs_protocol", `the KBS's reply is larger than ${maxBytes} bytes`);
  try {
    return JSON.parse(text);
  } catch {
    throw new KbsClientError("kbs_protocol", `the KBS's reply is not JSON (${response.status})`);
  }
}

async function errorFrom(response: Response, doing: string): Promise<KbsClientError> {
  const text = await response.text().catch(() => "");
  let detail: string | undefined;
  try {
    const body = JSON.parse(text) as { detail?: unknown; type?: unknown };
    detail = typeof body.detail === "string" ? body.detail : undefined;
  } catch {
    detail = text.slice(0, 300) || undefined;
  }
  const status = response.status;
  const code =
    status === 403 ? "kbs_denied" : status === 404 ? "kbs_not_found" : status === 401 ? "kbs_unauthorized" : status === 429 ? "kbs_rate_limited" : status >= 500 ? "kbs_unavailable" : "kbs_protocol";
  const retry = status === 429 ? ` (retry after ${response.headers.get("retry-after") ?? "?"} s)` : "";
  return new KbsClientError(code, `${doing} failed: KBS answered ${status}${detail ? `: ${detail}` : ""}${retry}`, status, detail);
}
