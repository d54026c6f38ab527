/**
 * The dashboard reads and acts only through the manager's own REST API, in process (fastify's
 * inject), with the signed-in user's credential: the same validation, views and scope checks as
 * any other client, so a read-scoped key is refused an action here exactly as it is over HTTP.
 */
import type { FastifyInstance } from "fastify";
import type { Readable } from "node:stream";

export interface ApiReply<T> {
  status: number;
  body: T;
}

/** An error reply of the REST API (its `{code, message}`), as the dashboard shows it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export class UiApi {
  constructor(
    private readonly app: FastifyInstance,
    private readonly credential: string,
    /** The browser's address, so failed authentications count against it, not against loopback. */
    private readonly clientIp: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.credential}`, ...extra };
  }

  async request<T>(method: "GET" | "POST" | "DELETE", url: string, body?: unknown): Promise<ApiReply<T>> {
    const reply = await this.app.inject({
      method,
      url,
      remoteAddress: this.clientIp,
      headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });
    const text = reply.body;
    let parsed: unknown = text;
    if ((reply.headers["content-type"] ?? "").toString().includes("json") && text !== "") parsed = JSON.parse(text);
    if (reply.statusCode >= 400) {
      const err = parsed as { code?: unknown; message?: unknown };
      throw new ApiError(reply.statusCode, typeof err?.code === "string" ? err.code : "error", typeof err?.message === "string" ? err.message : `HTTP ${reply.statusCode}`);
    }
    return { status: reply.statusCode, body: parsed as T };
  }

  async get<T>(url: string): Promise<T> {
    return (await this.request<T>("GET", url)).body;
  }

  /** GET that answers null on 404 (a receipt that is not there yet). */
  async find<T>(url: string): Promise<T | null> {
    try {
      return await this.get<T>(url);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** A streaming GET (the logs' Server-Sent Events): the status, headers and the body as it comes. */
  async stream(url: string, signal: AbortSignal, lastEventId?: string): Promise<{ status: number; contentType: string; body: Readable }> {
    const reply = await this.app.inject({
      method: "GET",
      url,
      remoteAddress: this.clientIp,
      headers: this.headers(lastEventId ? { "last-event-id": lastEventId } : {}),
      payloadAsStream: true,
      signal,
    });
    return { status: reply.statusCode, contentType: String(reply.headers["content-type"] ?? ""), body: reply.stream() };
  }
}
