/**
 * A warm instance pool for one function: `size` worker threads, each holding an instantiated
 * module. Calls queue (bounded) for a free instance. A call past its deadline is answered with
 * deadline_exceeded; if it was running, its worker is terminated (a guest cannot be interrupted
 * otherwise) and replaced, so the pool stays at its size.
 */
import { Worker } from "node:worker_threads";
import type { FuncSignature } from "../execute/wasm-binary.js";
import type { WasmModule } from "../execute/wasm-api.js";
import type { WasmValue } from "../execute/runtime.js";
import type { InstanceInit, InstanceMessage } from "./worker.js";
import { workerEntry } from "../../lib/worker-harness.js";

// Long-lived workers (one per warm instance, many calls each): they share the worker entry with
// the run harness, not its one-answer lifecycle.
const WORKER_ENTRY = workerEntry(import.meta.url, "worker");

export const MAX_QUEUED_CALLS = 10_000;

export type CallResult = { ok: true; values: WasmValue[] } | { ok: false; code: string; message: string };

interface Call {
  id: number;
  inputs: WasmValue[];
  deadline: NodeJS.Timeout;
  resolve(result: CallResult): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  call: Call | null;
}

export class InstancePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Call[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly init: InstanceInit,
    private readonly heapMb: number,
  ) {}

  /** Starts `size` instances; resolves when all are ready, rejects when the module cannot be instantiated. */
  static async start(module: WasmModule, exportName: string, signature: FuncSignature, size: number, heapMb = 32): Promise<InstancePool> {
    const pool = new InstancePool({ module, exportName, signature }, heapMb);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  call(inputs: WasmValue[], deadlineMs: number): Promise<CallResult> {
    if (this.closed) return Promise.resolve({ ok: false, code: "function_gone", message: "the function was removed from this proplet" });
    if (this.queue.length >= MAX_QUEUED_CALLS) {
      return Promise.resolve({ ok: false, code: "busy", message: `${MAX_QUEUED_CALLS} calls already wait for an instance; retry later` });
    }
    return new Promise<CallResult>((resolve) => {
      const call: Call = {
        id: this.nextId++,
        inputs,
        resolve,
        deadline: setTimeout(() => this.expire(call, deadlineMs), deadlineMs),
      };
      this.queue.push(call);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const call of this.queue.splice(0)) this.settle(call, { ok: false, code: "function_gone", message: "the function was removed from this proplet" });
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private spawn(replacing?: Slot): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const worker = new Worker(WORKER_ENTRY.spec, {
        eval: WORKER_ENTRY.eval,
        workerData: this.init,
        execArgv: ["--no-warnings"],
        resourceLimits: { maxOldGenerationSizeMb: this.heapMb },
      });
      const slot: Slot = { worker, ready: false, call: null };
      if (replacing) this.slots[this.slots.indexOf(replacing)] = slot;
      else this.slots.push(slot);
      worker.on("message", (m: InstanceMessage) => {
        if (m.kind === "ready") {
          slot.ready = true;
          resolve();
          this.pump();
        } else if (m.kind === "init-failed") {
          reject(new Error(m.message));
        } else if (slot.call && slot.call.id === m.id) {
          const call = slot.call;
          slot.call = null;
          this.settle(call, m.ok ? { ok: true, values: m.values } : { ok: false, code: m.code, message: m.message });
          this.pump();
        }
      });
      worker.on("error", (err) => {
        reject(err);
        this.lost(slot, `the instance crashed: ${err.message}`);
      });
      worker.on("exit", () => this.lost(slot, "the instance exited"));
    });
  }

  /** A worker died: its call fails, and (unless closing or already replaced) a fresh one takes its place. */
  private lost(slot: Slot, why: string): void {
    if (!this.slots.includes(slot)) return;
    const call = slot.call;
    slot.call = null;
    slot.ready = false;
    if (call) this.settle(call, { ok: false, code: "trap", message: why });
    if (!this.closed) void this.spawn(slot).catch(() => undefined);
  }

  private expire(call: Call, deadlineMs: number): void {
    const queued = this.queue.indexOf(call);
    if (queued >= 0) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.call === call);
    this.settle(call, { ok: false, code: "deadline_exceeded", message: `no result within the ${deadlineMs} ms deadline` });
    if (slot) {
      // The guest may loop forever: replace the instance.
      slot.call = null;
      slot.ready = false;
      const old = slot.worker;
      if (!this.closed) void this.spawn(slot).catch(() => undefined);
      void old.terminate();
    }
  }

  private settle(call: Call, result: CallResult): void {
    clearTimeout(call.deadline);
    call.resolve(result);
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (!slot.ready || slot.call) continue;
      const call = this.queue.shift()!;
      slot.call = call;
      slot.worker.postMessage({ id: call.id, inputs: call.inputs });
    }
  }
}
