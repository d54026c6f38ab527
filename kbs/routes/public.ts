import type { FastifyPluginAsync } from "fastify";
import type { KbsContext } from "../context.js";

/** JWKS (token verification keys), health and metrics. */
export function publicRoutes(ctx: KbsContext): FastifyPluginAsync {
  return async (app) => {
    const jwks = async () => ctx.signingKeys.jwks();
    app.get("/.well-known/jwks.json", jwks);
    app.get("/kbs/v0/jwks", jwks);

    app.get("/healthz", async (_request, reply) => {
      try {
        await ctx.db.query("SELECT 1");
        return { status: "ok", database: ctx.db.kind, developmentMode: ctx.config.developmentMode };
      } catch {
        reply.code(503);
        return { status: "unavailable", database: ctx.db.kind };
      }
    });

    app.get("/metrics", async (_request, reply) => {
      reply.header("content-type", ctx.metrics.registry.contentType);
      return ctx.metrics.registry.metrics();
    });
  };
}
