/**
 * Artifacts served over HTTP(S), fetched with Node's fetch and streamed:
 * - only http: and https: URLs, on every hop; redirects followed by hand and bounded;
 * - the size cap is enforced while streaming (Content-Length is checked first when present, but a
 *   server may lie or omit it);
 * - a timeout bounds the wait for the response headers (connect + first byte) and, separately,
 *   every silence between two chunks of the body, so a slow drip cannot hold a run forever;
 * - every failure is an ArtifactError with a stable code.
 */
import { ArtifactError } from "../errors.js";
import type { ArtifactSource, FetchOptions } from "./source.js";
import { messageOf } from "../../lib/errors.js";

export interface HttpSourceOptions {
  /** Connect/first-byte timeout and read (idle) timeout, in ms. */
  timeoutMs: number;
  maxRedirects?: number;
}

export function httpSource(options: HttpSourceOptions): ArtifactSource<"http"> {
  const maxRedirects = options.maxRedirects ?? 5;
  return {
    kind: "http",
    async fetch(location, fetchOptions) {
      let url = parseHttpUrl(location.url);
      for (let hop = 0; ; hop++) {
        const response = await request(url, options.timeoutMs, fetchOptions);
        if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
          await response.body?.cancel().catch(() => undefined);
          if (hop >= maxRedirects) throw new ArtifactError("artifact_unreachable", `${redact(location.url)}: more than ${maxRedirects} redirects`);
          url = parseHttpUrl(new URL(response.headers.get("location")!, url).href);
          continue;
        }
        if (!response.ok) {
          await response.body?.cancel().catch(() => undefined);
          throw new ArtifactError("artifact_http_status", `${redact(url.href)} answered HTTP ${response.status}`, { status: response.status });
        }
        return readBody(response, url, options.timeoutMs, fetchOptions);
      }
    },
  };
}

function parseHttpUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ArtifactError("artifact_invalid", `"${text.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ArtifactError("artifact_invalid", `artifact URLs must be http or https, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    // fetch() refuses them anyway; say why, without repeating them.
    throw new ArtifactError("artifact_invalid", `artifact URLs must not carry credentials (${redact(text)})`);
  }
  return url;
}

/** URLs may carry credentials (user:pass@ or signed query strings): never echo them. */
function redact(text: string): string {
  try {
    const u = new URL(text);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

async function request(url: URL, timeoutMs: number, { signal }: FetchOptions): Promise<Response> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), timeoutMs);
  try {
    return await fetch(url, { redirect: "manual", signal: AbortSignal.any([signal, timeout.signal]) });
  } catch (err) {
    if (timeout.signal.aborted) throw new ArtifactError("artifact_timeout", `${redact(url.href)} did not answer within ${timeoutMs} ms`);
    if (signal.aborted) throw new ArtifactError("artifact_unreachable", `fetching ${redact(url.href)} was aborted`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? messageOf(err);
    throw new ArtifactError("artifact_unreachable", `${redact(url.href)} is unreachable: ${reason.split(url.href).join(redact(url.href))}`);
  } finally {
    clearTimeout(timer);
  }
}

async function readBody(response: Response, url: URL, timeoutMs: number, { maxBytes, signal }: FetchOptions): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new ArtifactError("artifact_too_large", `${redact(url.href)} is ${declared} bytes; this proplet accepts at most ${maxBytes}`, { size: declared, maxBytes });
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ArtifactError("artifact_unreachable", `fetching ${redact(url.href)} was aborted`));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  aborted.catch(() => undefined); // observed through the race below; never an unhandled rejection
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ArtifactError("artifact_timeout", `${redact(url.href)} sent nothing for ${timeoutMs} ms (after ${size} bytes)`)), timeoutMs);
      });
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await Promise.race([reader.read(), idle, aborted]);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > maxBytes) {
        throw new ArtifactError("artifact_too_large", `${redact(url.href)} sent more than ${maxBytes} bytes; this proplet accepts at most ${maxBytes}`, { maxBytes });
      }
      chunks.push(next.value);
    }
  } catch (err) {
    await reader.cancel().catch(() => undefined);
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError("artifact_unreachable", `reading ${redact(url.href)} failed: ${messageOf(err)}`);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
  return Buffer.concat(chunks);
}
