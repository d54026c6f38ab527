/**
 * An OTLP/HTTP receiver for tests and benchmarks: a node:http server taking trace exports as
 * OTLP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) on POST /v1/traces, flattening them into
 * one list of spans with their resource's service name and their instrumentation scope.
 * Other signals (/v1/metrics, /v1/logs) are answered 200 and counted, not kept.
 */
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export type OtlpValue = string | number | boolean | null | OtlpValue[];

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  service: string;
  scope: string;
  attributes: Record<string, OtlpValue>;
  status: { code: number; message?: string };
  startNs: bigint;
  endNs: bigint;
}

export interface OtlpReceiver {
  /** Base URL for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  url: string;
  spans: ReceivedSpan[];
  /** Export requests received, by path. */
  requests: Map<string, number>;
  /** Raw text of every trace export body (to scan for what must never be there); empty with keep: false. */
  rawTraces: string[];
  /** Spans received (counted with keep: false too) and bytes of trace exports. */
  counts: { spans: number; bytes: number };
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}

function valueOf(v: AnyValue | undefined): OtlpValue {
  if (!v) return null;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueOf);
  return null;
}

function attributesOf(list: Array<{ key: string; value?: AnyValue }> | undefined): Record<string, OtlpValue> {
  const out: Record<string, OtlpValue> = {};
  for (const a of list ?? []) out[a.key] = valueOf(a.value);
  return out;
}

const MAX_BODY = 32 * 1024 * 1024;

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY) throw new Error("export body over 32 MiB");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function startOtlpReceiver(options: { keep?: boolean } = {}): Promise<OtlpReceiver> {
  const keep = options.keep ?? true;
  const spans: ReceivedSpan[] = [];
  const requests = new Map<string, number>();
  const rawTraces: string[] = [];
  const counts = { spans: 0, bytes: 0 };
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    body(req)
      .then((text) => {
        if (path === "/v1/traces") {
          if (!String(req.headers["content-type"] ?? "").includes("json")) {
            res.writeHead(415).end("this receiver takes OTLP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)");
            return;
          }
          const into: ReceivedSpan[] = [];
          collect(JSON.parse(text) as Export, into);
          counts.spans += into.length;
          counts.bytes += Buffer.byteLength(text);
          if (keep) {
            rawTraces.push(text);
            spans.push(...into);
          }
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      })
      .catch(() => res.writeHead(400).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests,
    rawTraces,
    counts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface Export {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: AnyValue }> };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind?: number;
        startTimeUnixNano?: string | number;
        endTimeUnixNano?: string | number;
        attributes?: Array<{ key: string; value?: AnyValue }>;
        status?: { code?: number; message?: string };
      }>;
    }>;
  }>;
}

function collect(exp: Export, into: ReceivedSpan[]): void {
  for (const rs of exp.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "");
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        into.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? "",
          name: s.name,
          kind: s.kind ?? 0,
          service,
          scope: ss.scope?.name ?? "",
          attributes: attributesOf(s.attributes),
          status: { code: s.status?.code ?? 0, ...(s.status?.message ? { message: s.status.message } : {}) },
          startNs: BigInt(s.startTimeUnixNano ?? 0),
          endNs: BigInt(s.endTimeUnixNano ?? 0),
        });
      }
    }
  }
}
