/**
 * PUT /artifacts/{digest}: uploads an artifact's bytes (application/octet-stream or
 * application/wasm, streamed) for tasks that name it with `{digest, delivery: "mqtt"}`. Larger than
 * a task body may carry inline (up to LIMITS.artifactBytes); stored in chunks.
 */
import type { FastifyInstance } from "fastify";
import { Type, type Static } from "@sinclair/typebox";
import type { Readable } from "node:stream";
import type { Database } from "../../db/index.js";
import { DIGEST_PATTERN, LIMITS } from "../../protocol/index.js";
import { ErrorReply } from "../http/schemas.js";
import { storeUpload } from "./upload.js";

export interface UploadDeps {
  db: Database;
  /** Largest artifact stored (default LIMITS.artifactBytes). */
  maxBytes?: number;
}

const Params = Type.Object({ digest: Type.String({ pattern: DIGEST_PATTERN }) });
const StoredArtifact = Type.Object({ digest: Type.String(), size: Type.Integer(), created: Type.Boolean() });

export async function deliveryRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  const maxBytes = deps.maxBytes ?? LIMITS.artifactBytes;
  // The body reaches the handler as the raw stream: it is read (and bounded) chunk by chunk.
  app.addContentTypeParser(["application/octet-stream", "application/wasm"], (_req, payload, done) => done(null, payload));
  app.put<{ Params: Static<typeof Params> }>(
    "/artifacts/:digest",
    {
      schema: {
        tags: ["artifacts"],
        params: Params,
        response: { 200: StoredArtifact, 201: StoredArtifact, 400: ErrorReply, 413: ErrorReply, 415: ErrorReply },
      },
    },
    async (req, reply) => {
      const declared = Number(req.headers["content-length"] ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        return reply.status(413).send({ code: "too_large", message: `the artifact is ${declared} bytes; this manager stores at most ${maxBytes}` });
      }
      const stored = await storeUpload(deps.db, req.params.digest, req.body as Readable, maxBytes);
      return reply.status(stored.created ? 201 : 200).send(stored);
    },
  );
}
