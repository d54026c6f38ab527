import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { createParser } from "eventsource-parser";
import type * as Api from "../protocol/api/index.js";
import { RemoteError } from "./errors.js";
import { messageOf } from "../lib/errors.js";
import { clientEnv } from "./client-env.js";

export const DEFAULT_MANAGER_URL = "http://127.0.0.1:7070";

// The manager's REST shapes are protocol/api's: the same TypeBox schemas the manager validates
// and documents with (GET /openapi.json).
/** A list query as the user gave it: the manager checks it and says what is wrong (400). */
type Unchecked<Q> = { [K in keyof Q]?: Q[K] | string };

function flowBase(kind: Api.FlowKind): string {
  return kind === "workflow" ? "/workflows" : "/jobs";
}

export const TERMINAL_STATES = new Set(["completed", "failed", "stopped"]);

export interface ClientOptions {
  baseUrl?: string;
  /** Bearer credential, when the manager requires one. */
  token?: string;
  timeoutMs?: number;
}

/** Where `propeller up` writes the manager token, relative to the working directory. */
export const MANAGER_TOKEN_FILE = join(".propeller", "manager-token");
const MAX_TOKEN_FILE_BYTES = 16 * 1024;

/**
 * The bearer credential for the manager: `--token`, else PROPELLER_TOKEN, else the file `propeller up`
 * wrote (`.propeller/manager-token`) when it exists; undefined when there is none.
 */
export function resolveManagerToken(explicit?: string, file: string = MANAGER_TOKEN_FILE): string | undefined {
  if (explicit) return explicit;
  const fromEnv = clientEnv().token;
  if (fromEnv) return fromEnv;
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_TOKEN_FILE_BYTES) throw new RemoteError("bad_token_file", `${file} is ${size} bytes, not a token; delete it or pass --token`, undefined);
    const buffer = Buffer.alloc(size);
    readSync(fd, buffer, 0, size, 0);
    return buffer.toString("utf8").trim() || undefined;
  } finally {
    closeSync(fd);
  }
}

/** A small typed client for the manager's REST API, with a timeout on every call. */
export class ManagerClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_MANAGER_URL).replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { response, text } = await this.send(method, path, body);
    if (response.status === 204) return undefined as T;
    return (text === "" ? undefined : JSON.parse(text)) as T;
  }

  /** One call; the reply's text when it succeeded, a RemoteError (with the manager's message) otherwise. */
  private async send(method: string, path: string, body?: unknown, accept = "application/json"): Promise<{ response: Response; text: string }> {
    const headers: Record<string, string> = { accept };
    // Raw bytes (an artifact upload) go as they are; anything else as JSON.
    const raw = body instanceof Uint8Array;
    if (body !== undefined) headers["content-type"] = raw ? "application/wasm" : "application/json";
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body: raw ? body : JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const reason = (err as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs} ms` : messageOf(err);
      throw new RemoteError(
        "unreachable",
        `cannot reach the manager at ${this.baseUrl} (${reason}); is it running? (\`propeller up\`, or set --manager / PROPELLER_MANAGER_URL)`,
        undefined,
      );
    }
    const text = response.status === 204 ? "" : await response.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!response.ok) {
      const error = json as Partial<Api.ErrorReply> | undefined;
      const hint =
        response.status === 401
          ? this.token
            ? " (the token was refused: check --token / PROPELLER_TOKEN / .propeller/manager-token)"
            : " (pass --token, set PROPELLER_TOKEN, or run where `propeller up` wrote .propeller/manager-token)"
          : "";
      throw new RemoteError(
        error?.code ?? `http_${response.status}`,
        `${method} ${path} failed (${response.status}): ${error?.message ?? text.slice(0, 300)}${hint}`,
        response.status,
      );
    }
    if (accept === "application/json" && text !== "" && json === undefined) {
      throw new RemoteError("bad_reply", `${method} ${path}: the manager's reply is not JSON`, response.status);
    }
    return { response, text };
  }

  /**
   * Follows a run's live output (Server-Sent Events) until the run ends: `onChunk` hears each chunk
   * in order; resolves with the run's final state. A dropped connection is resumed from the last
   * seq seen (Last-Event-ID), up to `maxReconnects` times in a row.
   */
  async followLogs(taskId: string, runId: string, onChunk: (c: Api.LogChunk) => void, options: { signal?: AbortSignal; maxReconnects?: number } = {}): Promise<Api.RunState> {
    const path = `/tasks/${encodeURIComponent(taskId)}/runs/${encodeURIComponent(runId)}/logs?follow=true`;
    let last = 0;
    let failures = 0;
    for (;;) {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      if (this.token) headers.authorization = `Bearer ${this.token}`;
      if (last > 0) headers["last-event-id"] = String(last);
      let ended: Api.RunState | undefined;
      try {
        const response = await fetch(`${this.baseUrl}${path}`, { headers, ...(options.signal ? { signal: options.signal } : {}) });
        if (!response.ok || !response.body) {
          const text = await response.text();
          let message = text.slice(0, 300);
          try {
            message = (JSON.parse(text) as Api.ErrorReply).message;
          } catch {
            // not JSON: keep the text
          }
          throw new RemoteError(`http_${response.status}`, `GET ${path} failed (${response.status}): ${message}`, response.status);
        }
        const parser = createParser({
          onEvent: (e) => {
            if (e.event === "log") {
              const chunk = JSON.parse(e.data) as Api.LogChunk;
              if (chunk.seq <= last) return;
              last = chunk.seq;
              failures = 0;
              onChunk(chunk);
            } else if (e.event === "end") ended = (JSON.parse(e.data) as Api.LogEnd).state;
          },
        });
        const decoder = new TextDecoder();
        for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(part, { stream: true }));
      } catch (err) {
        if (err instanceof RemoteError && err.status !== undefined && err.status < 500) throw err;
        if (options.signal?.aborted) throw err;
        if (++failures > (options.maxReconnects ?? 5)) {
          throw new RemoteError("unreachable", `lost the log stream from ${this.baseUrl} (${messageOf(err)}); run \`propeller task logs\` again to resume`, undefined);
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** failures)));
        continue;
      }
      if (ended !== undefined) return ended;
      // The stream closed without an end event (a manager restart): resume.
      if (++failures > (options.maxReconnects ?? 5)) throw new RemoteError("unreachable", "the log stream kept closing before the run ended; run `propeller task logs` again to resume", undefined);
    }
  }

  createTask(body: Record<string, unknown>): Promise<Api.Task> {
    return this.request("POST", "/tasks", body);
  }
  getTask(id: string): Promise<Api.Task> {
    return this.request("GET", `/tasks/${encodeURIComponent(id)}`);
  }
  listTasks(query: Unchecked<Api.TaskListQuery> = {}): Promise<Api.TaskList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.request("GET", `/tasks${qs ? `?${qs}` : ""}`);
  }
  startTask(id: string): Promise<Api.Task> {
    return this.request("POST", `/tasks/${encodeURIComponent(id)}/start`);
  }
  stopTask(id: string): Promise<Api.Task> {
    return this.request("POST", `/tasks/${encodeURIComponent(id)}/stop`);
  }
  run(id: string, runId: string): Promise<Api.Run> {
    return this.request("GET", `/tasks/${encodeURIComponent(id)}/runs/${encodeURIComponent(runId)}`);
  }
  runs(id: string): Promise<Api.RunList> {
    return this.request("GET", `/tasks/${encodeURIComponent(id)}/runs`);
  }
  proplets(): Promise<Api.PropletList> {
    return this.request("GET", "/proplets");
  }
  /** A run's receipt (compact JWS) as the proplet sent it. */
  async receipt(taskId: string, runId: string): Promise<string> {
    const { text } = await this.send("GET", `/tasks/${encodeURIComponent(taskId)}/runs/${encodeURIComponent(runId)}/receipt`, undefined, "application/jose");
    return text.trim();
  }
  createApiKey(name: string, scopes: Api.ApiScope[]): Promise<Api.ApiKeyCreated> {
    return this.request("POST", "/apikeys", { name, scopes });
  }
  listApiKeys(): Promise<Api.ApiKeyList> {
    return this.request("GET", "/apikeys");
  }
  revokeApiKey(id: string): Promise<void> {
    return this.request("DELETE", `/apikeys/${encodeURIComponent(id)}`);
  }

  // --- task features (clitask): artifact upload for `--delivery mqtt` ---
  /** `PUT /artifacts/{digest}`: stores the bytes with the manager (201 new, 200 already there). */
  uploadArtifact(digest: string, bytes: Uint8Array): Promise<Api.StoredArtifact> {
    return this.request("PUT", `/artifacts/${encodeURIComponent(digest)}`, bytes);
  }
  // --- end clitask ---
  // ---- workflows, jobs and warm functions (`propeller workflow|job|function`) ----
  createFlow(kind: Api.FlowKind, body: Record<string, unknown>): Promise<Api.Workflow> {
    return this.request("POST", flowBase(kind), body);
  }
  getFlow(kind: Api.FlowKind, id: string): Promise<Api.Workflow> {
    return this.request("GET", `${flowBase(kind)}/${encodeURIComponent(id)}`);
  }
  listFlows(kind: Api.FlowKind, query: Unchecked<Api.WorkflowListQuery> = {}): Promise<Api.WorkflowList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.request("GET", `${flowBase(kind)}${qs ? `?${qs}` : ""}`);
  }
  startFlow(kind: Api.FlowKind, id: string): Promise<Api.Workflow> {
    return this.request("POST", `${flowBase(kind)}/${encodeURIComponent(id)}/start`);
  }
  stopFlow(kind: Api.FlowKind, id: string): Promise<Api.Workflow> {
    return this.request("POST", `${flowBase(kind)}/${encodeURIComponent(id)}/stop`);
  }
  createFunction(body: Record<string, unknown>): Promise<Api.FunctionView> {
    return this.request("POST", "/functions", body);
  }
  listFunctions(): Promise<Api.FunctionList> {
    return this.request("GET", "/functions");
  }
  getFunction(name: string): Promise<Api.FunctionView> {
    return this.request("GET", `/functions/${encodeURIComponent(name)}`);
  }
  deleteFunction(name: string): Promise<void> {
    return this.request("DELETE", `/functions/${encodeURIComponent(name)}`);
  }
  invokeFunction(name: string, body: Api.InvokeRequest): Promise<Api.InvokeReply> {
    return this.request("POST", `/functions/${encodeURIComponent(name)}/invoke`, body);
  }

  /** Polls until the task's latest run is finished (or `timeoutMs` passes). */
  async waitForFinish(id: string, timeoutMs: number, onProgress?: (task: Api.Task) => void, maxPollMs = 500): Promise<Api.Task> {
    const deadline = Date.now() + timeoutMs;
    let delay = Math.min(50, maxPollMs);
    let lastState = "";
    for (;;) {
      const task = await this.getTask(id);
      if (task.state !== lastState) {
        lastState = task.state;
        onProgress?.(task);
      }
      if (TERMINAL_STATES.has(task.state) && task.latestRun && TERMINAL_STATES.has(task.latestRun.state)) return task;
      if (Date.now() > deadline) {
        throw new RemoteError(
          "wait_timeout",
          `task ${id} did not finish within ${timeoutMs} ms (state ${task.state}${task.pendingReason ? `: ${task.pendingReason}` : ""})`,
          undefined,
        );
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, maxPollMs);
    }
  }
}
