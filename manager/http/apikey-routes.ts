/** REST routes for API keys (admin scope): create (text returned once), list (never a hash or key), revoke. */
import type { FastifyInstance } from "fastify";
import type { Static, TSchema } from "@sinclair/typebox";
import type { ApiKeyRecord, ApiKeys } from "../auth/api-keys.js";
import * as S from "./schemas.js";

const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, S.ErrorReply])) as Record<number, TSchema>;

function view(k: ApiKeyRecord): Static<typeof S.ApiKey> {
  return {
    id: k.id,
    name: k.name,
    scopes: k.scopes,
    createdAt: k.createdAt.toISOString(),
    lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
    revokedAt: k.revokedAt?.toISOString() ?? null,
  };
}

export async function apiKeyRoutes(app: FastifyInstance, keys: ApiKeys): Promise<void> {
  app.post<{ Body: S.ApiKeyCreate }>(
    "/apikeys",
    {
      bodyLimit: S.API_KEY_BODY_LIMIT_BYTES,
      config: { scope: "admin" },
      schema: { tags: ["apikeys"], body: S.ApiKeyCreate, response: { 201: S.ApiKeyCreated, ...errors(400, 409, 413, 415) } },
    },
    async (req, reply) => {
      const { key, record } = await keys.create(req.body.name, req.body.scopes);
      return reply.status(201).header("cache-control", "no-store").send({ ...view(record), key });
    },
  );

  app.get("/apikeys", { config: { scope: "admin" }, schema: { tags: ["apikeys"], response: { 200: S.ApiKeyList } } }, async () => ({
    items: (await keys.list()).map(view),
  }));

  app.delete<{ Params: Static<typeof S.ApiKeyParams> }>(
    "/apikeys/:id",
    { config: { scope: "admin" }, schema: { tags: ["apikeys"], params: S.ApiKeyParams, response: { ...errors(404) } } },
    async (req, reply) => {
      await keys.revoke(req.params.id);
      return reply.status(204).send();
    },
  );
}
