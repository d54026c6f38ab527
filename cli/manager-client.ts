import { join } from "node:path";
import { createParser } from "eventsource-parser";
import type * as Api from "../protocol/api/index.js";
import { RemoteError } from "./errors.js";
import { messageOf } from "../lib/errors.js";
import { clientEnv } from "./client-env.js";
import { readSmallFile, readStackInfo, STATE_FILES, stateDirFrom } from "./state-dir.js";

/** A followed log stream silent this long is taken for dead and resumed (the manager pings every 15 s). */
const FOLLOW_IDLE_MS = 45_000;

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
  /** What to tell the user when the manager cannot be reached (how to start it or point to it). */
  unreachableHint?: string;
  /** Where the token came from (a flag, a variable, a file), named when the manager refuses it. */
  tokenSource?: string;
}

/** Where `propeller up` wrote the manager token before it had a state directory (read as a last resort). */
export const MANAGER_TOKEN_FILE = join(".propeller", "manager-token");

/**
 * The bearer credential for the manager: `--token`, else PROPELLER_TOKEN, else the file `propeller up`
 * wrote, when it exists; undefined when there is none.
 */
export function resolveManagerToken(explicit?: string, file: string = MANAGER_TOKEN_FILE): string | undefined {
  if (explicit) return explicit;
  const fromEnv = clientEnv().token;
  if (fromEnv) return fromEnv;
  let text: string | undefined;
  try {
    text = readSmallFile(file);
  } catch (err) {
    throw new RemoteError("bad_token_file", `${messageOf(err)}, or pass --token`, undefined);
  }
  return text?.trim() || undefined;
}

/** Where a client's manager URL and token come from: flags, the environment, the state directory `up` wrote. */
export interface ResolvedConnection {
  baseUrl: string;
  token?: string;
  /** How to get this manager going again, for the "cannot reach" message. */
  unreachableHint: string;
  /** Where the token came from, for the "refused" message. */
  tokenSource: string;
}

/**
 * --manager, else PROPELLER_MANAGER_URL, else the URL in the state directory's stack.json, else the
 * default. The state directory's token is sent only to the manager that wrote it (the URL in
 * stack.json): a token of a local stack never goes to a manager named by a flag.
 */
export function resolveConnection(values: { manager?: string; token?: string; "state-dir"?: string }): ResolvedConnection {
  const env = clientEnv();
  const stateDir = stateDirFrom(values["state-dir"]);
  let info: ReturnType<typeof readStackInfo>;
  try {
    info = readStackInfo(stateDir);
  } catch {
    info = undefined;
  }
  const baseUrl = (values.manager ?? env.managerUrl ?? info?.managerUrl ?? DEFAULT_MANAGER_URL).replace(/\/+$/, "");
  const fromState = info !== undefined && info.managerUrl.replace(/\/+$/, "") === baseUrl;
  const explicit = values.token ?? env.token;
  let token: string | undefined;
  let tokenSource = values.token ? "--token" : "PROPELLER_TOKEN";
  if (explicit) token = explicit;
  else if (fromState) {
    token = resolveManagerToken(undefined, join(stateDir, STATE_FILES.managerToken));
    tokenSource = join(stateDir, STATE_FILES.managerToken);
  }
  if (!token) {
    token = resolveManagerToken(undefined, MANAGER_TOKEN_FILE);
    tokenSource = MANAGER_TOKEN_FILE;
  }
  const dirFlag = values["state-dir"] ? ` --state-dir ${stateDir}` : "";
  const unreachableHint = fromState
    ? `the manager \`propeller up\` started with state in ${stateDir} is not running: start it again with \`propeller up${dirFlag}\``
    : values.manager || env.managerUrl
      ? `is it running there? Start one with \`propeller up\`, or correct ${values.manager ? "--manager" : "PROPELLER_MANAGER_URL"}`
      : `start one with \`propeller up\` (state in ${stateDir}), or point to one with --manager URL / PROPELLER_MANAGER_URL`;
  return { baseUrl, ...(token ? { token } : {}), unreachableHint, tokenSource };
}

/** A small typed client for the manager's REST API, with a timeout on every call. */
export class ManagerClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly unreachableHint: string;
  private readonly tokenSource: string;

  constructor(options: ClientOptions = {}) {
    this.baseUrl = (options.baseUrl ?? DEFAULT_MANAGER_URL).replace(/\/+$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.unreachableHint = options.unreachableHint ?? "is it running? (`propeller up`, or set --manager / PROPELLER_MANAGER_URL)";
    this.tokenSource = options.tokenSource ?? "--token / PROPELLER_TOKEN";
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
        `cannot reach the manager at ${this.baseUrl} (${reason}); ${this.unreachableHint}`,
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
            ? ` (the token from ${this.tokenSource} was refused: a token of an earlier \`propeller up\` start is revoked at the next start; pass a valid --token or PROPELLER_TOKEN)`
            : " (no token: pass --token or set PROPELLER_TOKEN; a manager started by `propeller up` is found with its token through its state directory, --state-dir or PROPELLER_STATE_DIR)"
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
      // Bounded silence: the manager sends a comment every 15 s, so a stream quiet for longer is
      // dead (a network that dropped it without a reset) and is resumed.
      const idle = new AbortController();
      let idleTimer = setTimeout(() => idle.abort(), FOLLOW_IDLE_MS);
      const touch = () => {
        clearTimeout(idleTimer);
        idleTimer = setTimeout(() => idle.abort(), FOLLOW_IDLE_MS);
      };
      const signal = options.signal ? AbortSignal.any([options.signal, idle.signal]) : idle.signal;
      try {
        const response = await fetch(`${this.baseUrl}${path}`, { headers, signal });
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
        for await (const part of response.body as unknown as AsyncIterable<Uint8Array>) {
          touch();
          parser.feed(decoder.decode(part, { stream: true }));
        }
      } catch (err) {
        if (err instanceof RemoteError && err.status !== undefined && err.status < 500) throw err;
        if (options.signal?.aborted) throw err;
        if (++failures > (options.maxReconnects ?? 5)) {
          throw new RemoteError("unreachable", `lost the log stream from ${this.baseUrl} (${messageOf(err)}); run \`propeller task logs\` again to resume`, undefined);
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** failures)));
        continue;
      } finally {
        clearTimeout(idleTimer);
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

  // ---- federated learning (`propeller fl`) ----
  createExperiment(body: Record<string, unknown>): Promise<Api.FlExperiment> {
    return this.request("POST", "/fl/experiments", body);
  }
  startExperiment(id: string): Promise<Api.FlExperiment> {
    return this.request("POST", `/fl/experiments/${encodeURIComponent(id)}/start`);
  }
  stopExperiment(id: string): Promise<Api.FlExperiment> {
    return this.request("POST", `/fl/experiments/${encodeURIComponent(id)}/stop`);
  }
  getExperiment(id: string): Promise<Api.FlExperiment> {
    return this.request("GET", `/fl/experiments/${encodeURIComponent(id)}`);
  }
  listExperiments(query: Unchecked<Api.FlExperimentListQuery> = {}): Promise<Api.FlExperimentList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return this.request("GET", `/fl/experiments${qs ? `?${qs}` : ""}`);
  }
  getModel(id: string, version: number): Promise<Api.FlModelVersion> {
    return this.request("GET", `/fl/experiments/${encodeURIComponent(id)}/models/${version}`);
  }
  /** Polls until the experiment is completed, failed or stopped (or `timeoutMs` passes). */
  async waitForExperiment(id: string, timeoutMs: number, onProgress?: (e: Api.FlExperiment) => void): Promise<Api.FlExperiment> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = await this.getExperiment(id);
      onProgress?.(e);
      if (e.state === "completed" || e.state === "failed" || e.state === "stopped") return e;
      if (Date.now() > deadline) throw new Error(`experiment ${id} still ${e.state} (round ${e.currentRound}) after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
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
