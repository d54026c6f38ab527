/**
 * What tracing costs per operation, measured in isolation (the end-to-end `tracing` bench cannot
 * resolve a few percent on a loaded machine): one span started and ended with six attributes
 * through the Node SDK's provider and batch processor (a no-op exporter), and one awaited promise
 * with and without an AsyncLocalStorage in use (what the SDK's context manager enables on Node 20:
 * a promise hook on every promise in the process, whoever creates it). Multiply by the spans per
 * task (13) and the promises per task (`--count-promises` of the tracing bench) for a budget.
 *
 *   npm run bench -- tracing-costs [--spans N] [--promises N]
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { BatchSpanProcessor, NodeTracerProvider, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-node";
import { fmt } from "./stats.js";

export async function benchTracingCosts(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { spans: { type: "string" }, promises: { type: "string" } }, strict: true });
  const spans = Number(values.spans ?? 20_000);
  const promises = Number(values.promises ?? 2_000_000);
  const exporter: SpanExporter = { export: (_s: ReadableSpan[], done) => done({ code: 0 }), shutdown: async () => undefined };
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: spans * 2, maxExportBatchSize: 512 })] });
  const tracer = provider.getTracer("bench");
  const attributes = () => ({ "propeller.task.id": randomUUID(), "propeller.run.id": randomUUID(), "propeller.proplet.id": "proplet-1", "propeller.run.attempt": 1, "propeller.runtime": "wasi-p1", "messaging.system": "mqtt" });
  const spanRound = () => {
    const t0 = performance.now();
    for (let i = 0; i < spans; i++) tracer.startSpan("propeller.run.schedule", { attributes: attributes() }).end();
    return ((performance.now() - t0) * 1000) / spans;
  };
  const attributeRound = () => {
    const t0 = performance.now();
    for (let i = 0; i < spans; i++) attributes();
    return ((performance.now() - t0) * 1000) / spans;
  };
  spanRound();
  attributeRound();
  const spanUs = Math.min(spanRound(), spanRound(), spanRound());
  const attrUs = Math.min(attributeRound(), attributeRound(), attributeRound());
  await provider.shutdown();

  const chain = async (n: number) => {
    for (let i = 0; i < n; i++) await Promise.resolve(i);
  };
  const promiseRound = async () => {
    const t0 = performance.now();
    await chain(promises);
    return ((performance.now() - t0) * 1e6) / promises;
  };
  await chain(100_000);
  const without = Math.min(await promiseRound(), await promiseRound());
  // From here on the process has an AsyncLocalStorage in use, as with tracing on (it cannot be turned off again).
  const storage = new AsyncLocalStorage<number>();
  const withAls = await storage.run(1, async () => {
    await chain(100_000);
    return Math.min(await promiseRound(), await promiseRound());
  });
  console.log("tracing costs per operation (best of the rounds, this machine):");
  console.log(`  span start + end, 6 attributes, batch processor: ${fmt(spanUs - attrUs, 2)} µs (+ ${fmt(attrUs, 2)} µs to build the attributes)`);
  console.log(`  await of a promise: ${fmt(without, 0)} ns without, ${fmt(withAls, 0)} ns with an AsyncLocalStorage in use (+${fmt(withAls - without, 0)} ns per promise)`);
}
