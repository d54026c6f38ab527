/** The transparency log's REST routes under /log (docs/transparency.md). */
import { Type, type Static } from "@sinclair/typebox";
import { ConsistencyBundle, InclusionBundle } from "../tlog/bundle.js";
import { Id } from "../messages/common.js";

export { ConsistencyBundle, InclusionBundle };

/** Where the log is served: C2SP tlog-tiles paths are relative to this prefix. */
export const LOG_PREFIX = "/log";

const Size = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

export const InclusionQuery = Type.Object(
  {
    /** A run id, the same grammar as everywhere (messages/common.ts `Id`). */
    runId: Id,
    /** A checkpointed size (default: the latest checkpoint). */
    treeSize: Type.Optional(Size),
  },
  { additionalProperties: false },
);
export type InclusionQuery = Static<typeof InclusionQuery>;

export const ConsistencyQuery = Type.Object({ size1: Size, size2: Type.Optional(Size) }, { additionalProperties: false });
export type ConsistencyQuery = Static<typeof ConsistencyQuery>;

export const CosignatureBody = Type.Object(
  { checkpoint: Type.String({ minLength: 1, maxLength: 64 * 1024, description: "the checkpoint as served, with the witness's cosignature line(s)" }) },
  { additionalProperties: false },
);
export type CosignatureBody = Static<typeof CosignatureBody>;

export const CosignatureReply = Type.Object({ accepted: Type.Array(Type.String()) });
export type CosignatureReply = Static<typeof CosignatureReply>;

export const CHECKPOINT_MEDIA_TYPE = "text/plain; charset=utf-8";
export const TILE_MEDIA_TYPE = "application/octet-stream";

/** GET /log/checkpoint and /log/key reply with text (a C2SP signed note; a note verifier key). */
export const LogText = Type.String({ description: "text/plain: a C2SP signed note, or a verifier key line" });
/** GET /log/tile/… replies with the tile's or entry bundle's bytes (C2SP tlog-tiles). */
export const TileBytes = Type.String({ format: "binary", description: "application/octet-stream" });
