/**
 * PUT /artifacts/{digest}: uploads an artifact's bytes (application/octet-stream or
 * application/wasm, streamed) for tasks that name it with `{digest, delivery: "mqtt"}`. Larger than
 * a task body may carry inline (up to LIMITS.artifactBytes); stored in chunks.
 */
import type { FastifyInstance } from "fastify";
import { Readable } from "node:stream";
import type { Database } from "../../../db/index.js";
import { LIMITS } from "../../../protocol/index.js";
import { ArtifactParams, ErrorReply, StoredArtifact } from "../../../protocol/api/index.js";
import { storeUpload } from "../../delivery/upload.js";
import { SUBMIT } from "./common.js";

export interface UploadDeps {
  db: Database;
  /** Largest artifact stored (default LIMITS.artifactBytes). */
  maxBytes?: number;
}

export async function artifactRoutes(app: FastifyInstance, deps: UploadDeps): Promise<void> {
  const maxBytes = deps.maxBytes ?? LIMITS.artifactBytes;
  // The body reaches the handler as the raw stream: it is read (and bounded) chunk by chunk.
  app.addContentTypeParser(["application/octet-stream", "application/wasm"], (_req, payload, done) => done(null, payload));
  app.put<{ Params: ArtifactParams }>(
    "/artifacts/:digest",
    {
      config: SUBMIT,
      schema: {
        tags: ["artifacts"],
        params: ArtifactParams,
        response: { 200: StoredArtifact, 201: StoredArtifact, 400: ErrorReply, 413: ErrorReply, 415: ErrorReply },
      },
    },
    async (req, reply) => {
      const declared = Number(req.headers["content-length"] ?? NaN);
      if (Number.isFinite(declared) && declared > maxBytes) {
        return reply.status(413).send({ code: "too_large", message: `the artifact is ${declared} bytes; this manager stores at most ${maxBytes}` });
      }
      if (req.body === undefined || req.body === null) return reply.status(400).send({ code: "empty_artifact", message: "the request body is empty: send the artifact's bytes" });
      if (!(req.body instanceof Readable)) {
        return reply.status(415).send({ code: "unsupported_media_type", message: "send the artifact's bytes as application/octet-stream or application/wasm" });
      }
      const stored = await storeUpload(deps.db, req.params.digest, req.body, maxBytes);
      return reply.status(stored.created ? 201 : 200).send(stored satisfies StoredArtifact);
    },
  );
}
