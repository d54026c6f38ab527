/** API keys (admin scope): create (text returned once), list (never a hash or key), revoke. */
import type { FastifyInstance } from "fastify";
import type { ApiKeyRecord, ApiKeys } from "../../auth/api-keys.js";
import { API_KEY_BODY_LIMIT_BYTES, ApiKey, ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyParams } from "../../../protocol/api/index.js";
import { ADMIN, errors } from "./common.js";

function view(k: ApiKeyRecord): ApiKey {
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
  app.post<{ Body: ApiKeyCreate }>(
    "/apikeys",
    {
      bodyLimit: API_KEY_BODY_LIMIT_BYTES,
      config: ADMIN,
      schema: { tags: ["apikeys"], body: ApiKeyCreate, response: { 201: ApiKeyCreated, ...errors(400, 409, 413, 415) } },
    },
    async (req, reply) => {
      const { key, record } = await keys.create(req.body.name, req.body.scopes);
      return reply.status(201).header("cache-control", "no-store").send({ ...view(record), key } satisfies ApiKeyCreated);
    },
  );

  app.get("/apikeys", { config: ADMIN, schema: { tags: ["apikeys"], response: { 200: ApiKeyList } } }, async (): Promise<ApiKeyList> => ({
    items: (await keys.list()).map(view),
  }));

  app.delete<{ Params: ApiKeyParams }>(
    "/apikeys/:id",
    { config: ADMIN, schema: { tags: ["apikeys"], params: ApiKeyParams, response: { ...errors(404) } } },
    async (req, reply) => {
      await keys.revoke(req.params.id);
      return reply.status(204).send();
    },
  );
}
