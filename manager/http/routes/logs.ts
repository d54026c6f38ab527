/**
 * GET /tasks/:id/runs/:runId/logs: a run's live output. Without `follow`, one JSON page of stored
 * chunks. With `follow=true`, Server-Sent Events until the run ends: `log` events (id = seq, so a
 * client reconnecting with `Last-Event-ID` misses nothing), a comment every 15 s to keep proxies
 * from closing an idle stream, and one `end` event with the final state.
 */
import type { FastifyInstance } from "fastify";
import type { LogService } from "../../logs/service.js";
import { LOG_SEQ_MAX, LogList, LogQuery, RunParams } from "../../../protocol/api/index.js";
import { READ, errors } from "./common.js";

const KEEPALIVE_MS = 15_000;

export async function runLogRoutes(app: FastifyInstance, logs: LogService): Promise<void> {
  app.get<{ Params: RunParams; Querystring: LogQuery }>(
    "/tasks/:id/runs/:runId/logs",
    {
      config: READ,
      schema: {
        tags: ["runs"],
        params: RunParams,
        querystring: LogQuery,
        description: "The run's live output; with follow=true as text/event-stream (events log and end)",
        response: { 200: LogList, ...errors(404, 503) },
      },
    },
    async (req, reply) => {
      // Last-Event-ID is the seq of the last event the client saw; anything else in it is ignored.
      const header = req.headers["last-event-id"];
      const resumeFrom = typeof header === "string" && /^\d{1,10}$/.test(header) ? Math.min(Number(header), LOG_SEQ_MAX) : 0;
      const after = Math.max(resumeFrom, req.query.after ?? 0);
      if (!req.query.follow) return logs.list(req.params.id, req.params.runId, after);

      const abort = new AbortController();
      const raw = reply.raw;
      let open = false;
      const write = (text: string) => {
        if (!raw.destroyed) raw.write(text);
      };
      const start = () => {
        if (open) return;
        open = true;
        reply.hijack();
        raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", connection: "keep-alive", "x-content-type-options": "nosniff" });
        write(": following\n\n");
      };
      req.raw.on("close", () => abort.abort());
      const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
      try {
        // Not found or too many followers throw before the stream opens: a JSON error reply.
        await logs.follow(
          req.params.id,
          req.params.runId,
          after,
          {
            chunk: (c) => {
              start();
              write(`event: log\nid: ${c.seq}\ndata: ${JSON.stringify(c)}\n\n`);
            },
            end: (state) => {
              start();
              write(`event: end\ndata: ${JSON.stringify({ state })}\n\n`);
            },
          },
          abort.signal,
          start,
        );
      } finally {
        clearInterval(keepalive);
        if (open) raw.end();
      }
      return reply;
    },
  );
}
