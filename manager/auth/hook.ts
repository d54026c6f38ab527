/**
 * The REST API's one gate: an onRequest hook on every route. A route says what it needs in its
 * `config`: `{ scope: "read" | "submit" | "admin" }`, or `{ public: true }` (GET /health only).
 * A route that says nothing is denied to everyone (fail closed). Unknown paths (404) need a valid
 * credential too, so that they reveal nothing to anonymous callers.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { ForbiddenError, TooManyFailuresError, UnauthorizedError } from "../errors.js";
import type { Authenticator, Principal } from "./authenticate.js";
import type { FailureLimiter } from "./failures.js";
import { grants, isScope, type Scope } from "./scopes.js";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope this route needs. */
    scope?: Scope;
    /** No credential needed (GET /health only). */
    public?: boolean;
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface Gate {
  authenticator: Authenticator;
  failures: FailureLimiter;
}

export function installAuth(app: FastifyInstance, gate: Gate): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (request) => {
    const config = request.routeOptions.config;
    if (config.public === true && !request.is404) return;
    const client = request.ip;
    const wait = gate.failures.blockedFor(client);
    if (wait > 0) throw new TooManyFailuresError(`too many failed authentications from this address; retry in ${wait} s`, wait);
    let principal: Principal;
    try {
      principal = await gate.authenticator.authenticate(request.headers.authorization);
    } catch (err) {
      if (err instanceof UnauthorizedError) {
        await gate.failures.record(client);
        request.log.info({ code: err.code, client }, "authentication failed");
      }
      throw err;
    }
    request.principal = principal;
    if (request.is404) return;
    const needed = config.scope;
    if (!isScope(needed)) {
      throw new ForbiddenError("route_without_scope", `${routeName(request)} declares no scope, so it is denied to everyone (server bug: report it)`, null);
    }
    if (!grants(principal.scopes, needed)) {
      throw new ForbiddenError("insufficient_scope", `${routeName(request)} needs the "${needed}" scope; this credential has ${principal.scopes.join(", ") || "none"}`, needed);
    }
  });
}

function routeName(request: FastifyRequest): string {
  return `${request.method} ${request.routeOptions.url ?? request.url.split("?")[0]}`;
}
