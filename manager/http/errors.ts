/**
 * Every error leaves as JSON `{code, message}` with a status that says what kind it is. Services
 * throw typed errors with stable codes and never pick an HTTP status: the table below is the one
 * place the REST API turns them into statuses.
 */
import type { FastifyError, FastifyInstance } from "fastify";
import { DigestError, PropellerError, SchemaError } from "../../protocol/index.js";
import type { ErrorReply } from "../../protocol/api/index.js";
import { AuthUnavailableError, ServiceUnavailableError, ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, TooManyFailuresError, UnauthorizedError } from "../errors.js";
import { InvocationError } from "../invocations/service.js";
import { databaseTrouble, troubleMessage } from "../../db/index.js";

type ErrorClass = abstract new (...args: never[]) => PropellerError;

/** Error class → status, first match wins. */
const STATUS_BY_CLASS: ReadonlyArray<readonly [ErrorClass, number]> = [
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [TooManyFailuresError, 429],
  [AuthUnavailableError, 503],
  [ServiceUnavailableError, 503],
  [NotFoundError, 404],
  [ConflictError, 409],
  [InvalidRequestError, 400],
  [DigestError, 400],
  [SchemaError, 400],
];

/** An invocation that could not be served: no proplet can take it (503) or its deadline passed (504). */
const INVOCATION_STATUS: Readonly<Record<string, number>> = {
  busy: 503,
  function_failed: 503,
  no_matching_proplet: 503,
  deadline_exceeded: 504,
};

/** The HTTP status of a service error; 500 for anything the table does not name. */
export function statusOf(err: PropellerError): number {
  if (err.code === "too_large") return 413;
  if (err instanceof InvocationError) return INVOCATION_STATUS[err.code] ?? 503;
  for (const [type, status] of STATUS_BY_CLASS) if (err instanceof type) return status;
  return 500;
}

/** What fastify's own request errors become. */
const FASTIFY_ERRORS: Readonly<Record<string, (fe: FastifyError) => { status: number; body: ErrorReply }>> = {
  FST_ERR_VALIDATION: (fe) => ({ status: 400, body: { code: "invalid_request", message: fe.message } }),
  FST_ERR_CTP_INVALID_JSON_BODY: (fe) => ({ status: 400, body: { code: "malformed_json", message: `request body is not valid JSON: ${fe.message}` } }),
  FST_ERR_CTP_EMPTY_JSON_BODY: (fe) => ({ status: 400, body: { code: "malformed_json", message: `request body is not valid JSON: ${fe.message}` } }),
  FST_ERR_CTP_BODY_TOO_LARGE: () => ({ status: 413, body: { code: "too_large", message: "request body is larger than the server accepts" } }),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () => ({ status: 415, body: { code: "unsupported_media_type", message: "send application/json" } }),
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | PropellerError | Error, request, reply) => {
    if (error instanceof PropellerError) {
      const status = statusOf(error);
      // RFC 6750: say how to authenticate, and which scope was missing.
      if (status === 401) reply.header("www-authenticate", `Bearer realm="propeller", error="invalid_token"`);
      if (error instanceof UnauthorizedError && error.code === "missing_credentials") reply.header("www-authenticate", `Bearer realm="propeller"`);
      if (error instanceof ForbiddenError) reply.header("www-authenticate", `Bearer realm="propeller", error="insufficient_scope"${error.scope ? `, scope="${error.scope}"` : ""}`);
      if (error instanceof TooManyFailuresError) reply.header("retry-after", String(error.retryAfterSeconds));
      if (error instanceof AuthUnavailableError || error instanceof ServiceUnavailableError) reply.header("retry-after", "5");
      if (status === 500) request.log.error({ err: error.message, code: error.code }, "request failed");
      const body: ErrorReply = { code: status === 500 ? "internal" : error.code, message: status === 500 ? "internal error" : error.message };
      return reply.status(status).send(body);
    }
    const fe = error as FastifyError;
    const known = fe.code ? FASTIFY_ERRORS[fe.code] : undefined;
    if (known) {
      const { status, body } = known(fe);
      return reply.status(status).send(body);
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ code: "bad_request", message: fe.message } satisfies ErrorReply);
    }
    // The database out of disk, restarting or unreachable: the request may be repeated as it is.
    const trouble = databaseTrouble(error);
    if (trouble) {
      request.log.warn({ err: fe.message, trouble }, "database unavailable");
      reply.header("retry-after", "5");
      return reply.status(503).send({ code: trouble === "disk_full" ? "database_disk_full" : "database_unavailable", message: troubleMessage(trouble) } satisfies ErrorReply);
    }
    request.log.error({ err: fe.message }, "request failed");
    return reply.status(500).send({ code: "internal", message: "internal error" } satisfies ErrorReply);
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` } satisfies ErrorReply),
  );
}
