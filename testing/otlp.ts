/**
 * An OTLP/HTTP receiver for tests and benchmarks: a node:http server taking trace exports as
 * OTLP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json) on POST /v1/traces, flattening them into
 * one list of spans with their resource's service name and their instrumentation scope. With
 * keep: false (benchmarks) it also takes OTLP protobuf, the SDK's default, and only counts it.
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
  /** Spans received (counted with keep: false too; JSON or protobuf) and bytes of trace exports. */
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

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_BODY) throw new Error("export body over 32 MiB");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Spans in an OTLP protobuf ExportTraceServiceRequest, counted without a protobuf library:
 * resource_spans (1) → scope_spans (2) → spans (2), each a length-delimited field.
 */
export function countProtobufSpans(buf: Uint8Array): number {
  const fields = (b: Uint8Array, want: number): Uint8Array[] => {
    const out: Uint8Array[] = [];
    let i = 0;
    const varint = () => {
      let v = 0;
      let shift = 0;
      for (;;) {
        if (i >= b.length) throw new Error("truncated protobuf");
        const byte = b[i++]!;
        v += (byte & 0x7f) * 2 ** shift;
        if (byte < 0x80) return v;
        shift += 7;
        if (shift > 63) throw new Error("bad varint");
      }
    };
    while (i < b.length) {
      const key = varint();
      const wire = key & 7;
      const field = Math.floor(key / 8);
      if (wire === 0) varint();
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else if (wire === 2) {
        const len = varint();
        if (i + len > b.length) throw new Error("truncated protobuf");
        if (field === want) out.push(b.subarray(i, i + len));
        i += len;
      } else throw new Error(`protobuf wire type ${wire} not expected here`);
    }
    return out;
  };
  let spans = 0;
  for (const rs of fields(buf, 1)) for (const ss of fields(rs, 2)) spans += fields(ss, 2).length;
  return spans;
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
      .then((raw) => {
        if (path === "/v1/traces") {
          if (String(req.headers["content-type"] ?? "").includes("protobuf") && !keep) {
            // Benchmarks: the SDK's default protocol (http/protobuf), counted only.
            counts.spans += countProtobufSpans(raw);
            counts.bytes += raw.byteLength;
            res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
            return;
          }
          if (!String(req.headers["content-type"] ?? "").includes("json")) {
            res.writeHead(415).end("this receiver keeps OTLP JSON only (OTEL_EXPORTER_OTLP_PROTOCOL=http/json); protobuf is counted with keep: false");
            return;
          }
          const text = raw.toString("utf8");
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
