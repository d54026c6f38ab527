/**
 * What a credential may do. `read` = GET, `submit` = create/update/start/stop/delete tasks,
 * `admin` = everything (proplet removal, API key management) and implies the others.
 */
import { API_SCOPES, type ApiScope } from "../../protocol/api/index.js";

export const SCOPES = API_SCOPES;
export type Scope = ApiScope;

export function isScope(value: unknown): value is Scope {
  return typeof value === "string" && (SCOPES as readonly string[]).includes(value);
}

/** Whether scopes `held` allow an action that needs `needed`. */
export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.includes("admin") || held.includes(needed);
}
