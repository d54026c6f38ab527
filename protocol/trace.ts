import { randomBytes } from "node:crypto";

/** W3C trace context `traceparent` header value (version 00). */
export const TRACEPARENT_PATTERN = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

export function newTraceparent(): string {
  return `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}

/** A child span of the same trace: same trace id, new parent id. */
export function childTraceparent(parent: string | undefined): string {
  const match = parent ? /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/.exec(parent) : null;
  if (!match) return newTraceparent();
  return `00-${match[1]}-${randomBytes(8).toString("hex")}-${match[2]}`;
}
