/**
 * The KBS wire contract shared by the KBS (kbs/), its clients (attestation/agent, kbs/admin-client,
 * cli) and the documents that name KBS resources (ConfidentialSpec, OCI annotations). KBS-PROTOCOL.md
 * is the reference.
 */

/** The only KBS protocol version spoken: sent by the attestation agent, required by the KBS. */
export const KBS_PROTOCOL_VERSION = "0.4.0";

/** Scheme and (empty) authority of a resource URI: `kbs:///<repository>/<type>/<tag>`. */
export const KBS_RESOURCE_URI_PREFIX = "kbs:///";
/** Where a resource is fetched (and, with an admin token, written or deleted): `/kbs/v0/resource/<repository>/<type>/<tag>`. */
export const KBS_RESOURCE_PATH_PREFIX = "/kbs/v0/resource/";

/**
 * One resource path segment (repository, type or tag), without anchors. Written with `\-` so the
 * schema patterns built from it are byte-identical to the ones published before.
 */
const SEGMENT = "[a-zA-Z0-9_\\-]+[a-zA-Z0-9_\\-.]*";
/** A segment, anchored (for JSON-schema `pattern`). */
export const KBS_RESOURCE_SEGMENT_PATTERN = `^${SEGMENT}$`;
/** A whole `kbs:///repo/type/tag` URI, anchored (for JSON-schema `pattern`). */
export const KBS_RESOURCE_URI_PATTERN = `^kbs:///${SEGMENT}/${SEGMENT}/${SEGMENT}$`;
/**
 * Length bounds some callers apply on top of the grammar: the KBS routes bound each segment, task
 * specs and OCI annotations bound the URI. The agent and admin clients apply neither; the KBS does.
 */
export const KBS_RESOURCE_SEGMENT_MAX_LENGTH = 128;
export const KBS_RESOURCE_URI_MAX_LENGTH = 512;

const SEGMENT_RE = new RegExp(KBS_RESOURCE_SEGMENT_PATTERN);

/** A KBS resource name, e.g. `kbs:///default/key/app-1.0` → { repository: "default", type: "key", tag: "app-1.0" }. */
export interface KbsResource {
  repository: string;
  type: string;
  tag: string;
}

export interface ParseKbsResourceOptions {
  /**
   * Also accept the bare path `repo/type/tag` (what the agent and admin clients take). Without it
   * only the `kbs:///` URI is accepted (what task specs and OCI annotations carry).
   */
  allowBarePath?: boolean;
}

export function isKbsResourceSegment(segment: string): boolean {
  return SEGMENT_RE.test(segment);
}

/**
 * The resource named by `resource`, or undefined when it is not one. Callers throw their own typed
 * error (the agent's KbsClientError, the admin client's KbsAdminError) or answer a schema error.
 */
export function tryParseKbsResourceUri(resource: string, options: ParseKbsResourceOptions = {}): KbsResource | undefined {
  let path: string;
  if (resource.startsWith(KBS_RESOURCE_URI_PREFIX)) path = resource.slice(KBS_RESOURCE_URI_PREFIX.length);
  else if (options.allowBarePath) path = resource;
  else return undefined;
  const segments = path.split("/");
  if (segments.length !== 3 || !segments.every(isKbsResourceSegment)) return undefined;
  const [repository, type, tag] = segments as [string, string, string];
  return { repository, type, tag };
}

export function isKbsResourceUri(resource: string, options: ParseKbsResourceOptions = {}): boolean {
  return tryParseKbsResourceUri(resource, options) !== undefined;
}

/** `repo/type/tag` */
export function formatKbsResourcePath(resource: KbsResource): string {
  return `${resource.repository}/${resource.type}/${resource.tag}`;
}
