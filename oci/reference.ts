import { isDigest, type Digest } from "../protocol/digest.js";
import { OciReferenceError } from "./errors.js";

/**
 * An artifact reference: `registry[:port]/repo[/more]:tag`, `registry/repo@sha256:<hex>`, or both
 * (`…:tag@sha256:<hex>`, where the digest wins and the tag is informational).
 *
 * No Docker defaults: the first path component is ALWAYS the registry host (there is no implied
 * docker.io, no implied `library/`, no implied `latest`). A reference must name a tag or a digest.
 * Grammar: github.com/distribution/reference and the OCI distribution spec (`<name>` path
 * components, tags of at most 128 characters); only sha256 digests are accepted.
 */
export interface Reference {
  /** `host` or `host:port`, exactly as written (hosts are case-insensitive; we lower-case them). */
  registry: string;
  /** Repository name inside the registry, e.g. `team/app`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6 = /^\[[a-fA-F0-9:]+\]$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Distribution's limit on `registry/name` (and what most clients enforce). */
const MAX_NAME_LENGTH = 255;

export function parseReference(input: string): Reference {
  if (typeof input !== "string" || input.length === 0) throw new OciReferenceError("empty artifact reference");
  if (input.length > MAX_NAME_LENGTH + 1 + 128 + 1 + 71) {
    throw new OciReferenceError(`artifact reference is too long (${input.length} characters)`);
  }
  const shown = input.slice(0, 120);
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new OciReferenceError(`"${shown}": the digest must be sha256:<64 lower-case hex digits>`);
    digest = d;
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf("/");
  if (slash <= 0) {
    throw new OciReferenceError(`"${shown}" names no registry: write registry[:port]/repository:tag (no default registry is assumed)`);
  }
  const registry = parseRegistry(rest.slice(0, slash), shown);
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(":");
  if (colon >= 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG.test(tag)) throw new OciReferenceError(`"${shown}": tag "${tag.slice(0, 40)}" is not valid (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (path.length === 0) throw new OciReferenceError(`"${shown}" names no repository after the registry`);
  for (const component of path.split("/")) {
    if (!PATH_COMPONENT.test(component)) {
      throw new OciReferenceError(`"${shown}": repository component "${component.slice(0, 40)}" is not valid (lower-case letters and digits, separated by . _ __ or -)`);
    }
  }
  if (registry.length + 1 + path.length > MAX_NAME_LENGTH) {
    throw new OciReferenceError(`"${shown}": registry and repository together exceed ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) {
    throw new OciReferenceError(`"${shown}" names neither a tag nor a digest (no default tag is assumed)`);
  }
  const ref: Reference = { registry, repository: path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

function parseRegistry(host: string, shown: string): string {
  let name = host;
  let port: string | undefined;
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    name = close > 0 ? host.slice(0, close + 1) : host;
    const after = close > 0 ? host.slice(close + 1) : "";
    if (after) {
      if (!after.startsWith(":")) throw new OciReferenceError(`"${shown}": registry "${host}" is not a valid host[:port]`);
      port = after.slice(1);
    }
    if (!IPV6.test(name)) throw new OciReferenceError(`"${shown}": registry "${host}" is not a valid IPv6 literal`);
  } else {
    const colon = host.indexOf(":");
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (!name.split(".").every((c) => DOMAIN_COMPONENT.test(c))) {
      throw new OciReferenceError(`"${shown}": registry "${host.slice(0, 60)}" is not a valid host name`);
    }
  }
  if (port !== undefined) {
    const n = Number(port);
    if (!/^[0-9]{1,5}$/.test(port) || n < 1 || n > 65535) throw new OciReferenceError(`"${shown}": registry port "${port.slice(0, 10)}" is not 1–65535`);
  }
  return (port === undefined ? name : `${name}:${port}`).toLowerCase();
}

/** The canonical string: `registry/repo:tag`, `registry/repo@digest` or `registry/repo:tag@digest`. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** The same artifact pinned by digest: `registry/repo@sha256:…` (what `push` prints). */
export function digestReference(ref: Pick<Reference, "registry" | "repository">, digest: Digest): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}
