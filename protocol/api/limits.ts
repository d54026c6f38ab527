/** Size bounds of REST requests: what the manager reads, and what a client may send. */
import { LIMITS } from "../limits.js";

/** base64 of the largest inline artifact, and the request body limit derived from it. */
export const INLINE_ARTIFACT_BASE64_CHARS = Math.ceil(LIMITS.inlineArtifactBytes / 3) * 4;
/**
 * A 4 MiB artifact in base64 plus room for the rest of a task (name, args, env, a small stdin):
 * 256 KiB. Nothing larger is read.
 */
export const BODY_LIMIT_BYTES = INLINE_ARTIFACT_BASE64_CHARS + 256 * 1024;
export const MAX_URL_LENGTH = 2048;
/** An API key request is a name and a few scopes: a small body limit. */
export const API_KEY_BODY_LIMIT_BYTES = 4096;
/** Nodes of one workflow, tasks of one job. */
export const MAX_NODES = 100;
