/**
 * The transparency log over HTTP: C2SP tlog-tiles under /log (checkpoint, tiles, entry bundles),
 * the log's verifier key, proof bundles for a run's receipt and between two sizes, and witness
 * cosignatures. Reads are public unless log.publicRead is false (then they need "read"): a
 * transparency log is only useful if anyone can check it, and what it serves is receipts (digests
 * and ids, no inputs or outputs) and hashes.
 */
import type { FastifyContextConfig, FastifyInstance } from "fastify";
import { CHECKPOINT_MEDIA_TYPE, ConsistencyBundle, ConsistencyQuery, CosignatureBody, CosignatureReply, InclusionBundle, InclusionQuery, LOG_PREFIX, LogText, TILE_MEDIA_TYPE, TileBytes } from "../../../protocol/api/index.js";
import { parseTilePath, TILE_WIDTH } from "../../../protocol/tlog/index.js";
import type { TransparencyLog } from "../../tlog/log.js";
import { NotFoundError } from "../../errors.js";
import { READ, SUBMIT, errors } from "./common.js";

export interface LogRouteDeps {
  log: TransparencyLog;
  publicRead: boolean;
}

export async function logRoutes(app: FastifyInstance, deps: LogRouteDeps): Promise<void> {
  const read = (deps.publicRead ? { public: true } : READ) as FastifyContextConfig;
  const open = deps.publicRead ? { security: [] } : {};

  app.get(
    `${LOG_PREFIX}/checkpoint`,
    { config: read, schema: { tags: ["log"], ...open, response: { 200: LogText, ...errors(404) } } },
    async (_req, reply) => {
      const cp = await deps.log.latestCheckpoint();
      // Mutable: clients must not cache it for long.
      return reply.type(CHECKPOINT_MEDIA_TYPE).header("cache-control", "no-cache, max-age=2").send(cp.note);
    },
  );

  app.get(`${LOG_PREFIX}/key`, { config: read, schema: { tags: ["log"], ...open, response: { 200: LogText } } }, async (_req, reply) =>
    reply.type(CHECKPOINT_MEDIA_TYPE).send(`${deps.log.verifierKey}\n`),
  );

  app.get<{ Params: { "*": string } }>(
    `${LOG_PREFIX}/tile/*`,
    // Hidden from the OpenAPI document: a wildcard path it cannot express (the layout is C2SP tlog-tiles, docs/transparency.md).
    { config: read, schema: { hide: true, tags: ["log"], ...open, response: { 200: TileBytes, ...errors(404) } } },
    async (req, reply) => {
      const rest = req.params["*"];
      const ref = rest.length <= 64 ? parseTilePath(rest) : null;
      if (!ref) throw new NotFoundError("log_not_found", `not a tile path: tile/${rest.slice(0, 64)}`);
      const bytes = await deps.log.tile(ref);
      // Full tiles and bundles never change; a partial one is replaced by its fuller versions.
      reply.header("cache-control", ref.width === TILE_WIDTH ? "public, max-age=31536000, immutable" : "public, max-age=3600");
      return reply.type(TILE_MEDIA_TYPE).send(bytes);
    },
  );

  app.get<{ Querystring: InclusionQuery }>(
    `${LOG_PREFIX}/proof/inclusion`,
    { config: read, schema: { tags: ["log"], ...open, querystring: InclusionQuery, response: { 200: InclusionBundle, ...errors(400, 404) } } },
    async (req) => deps.log.inclusionBundle(req.query.runId, req.query.treeSize),
  );

  app.get<{ Querystring: ConsistencyQuery }>(
    `${LOG_PREFIX}/proof/consistency`,
    { config: read, schema: { tags: ["log"], ...open, querystring: ConsistencyQuery, response: { 200: ConsistencyBundle, ...errors(400, 404) } } },
    async (req) => deps.log.consistencyBundle(req.query.size1, req.query.size2),
  );

  // Witnesses send back the checkpoint with their cosignature; only configured witness keys count.
  app.post<{ Body: CosignatureBody }>(
    `${LOG_PREFIX}/cosignature`,
    { config: SUBMIT, bodyLimit: 128 * 1024, schema: { tags: ["log"], body: CosignatureBody, response: { 200: CosignatureReply, ...errors(400, 404) } } },
    async (req) => ({ accepted: await deps.log.addCosignatures(req.body.checkpoint) }),
  );
}
