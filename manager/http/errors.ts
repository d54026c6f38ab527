/** Every error leaves as JSON `{code, message}` with a status that says what kind it is. */
import type { FastifyError, FastifyInstance } from "fastify";
import { DigestError, PropellerError, SchemaError } from "../../protocol/index.js";
import { ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, TooManyFailuresError, UnauthorizedError } from "../errors.js";

function statusOf(err: PropellerError): number {
  if (err.code === "too_large") return 413;
  if (err instanceof UnauthorizedError) return 401;
  if (err instanceof ForbiddenError) return 403;
  if (err instanceof TooManyFailuresError) return 429;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof InvalidRequestError || err instanceof DigestError || err instanceof SchemaError) return 400;
  return 500;
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | PropellerError | Error, request, reply) => {
    if (error instanceof PropellerError) {
      const status = statusOf(error);
      // RFC 6750: say how to authenticate, and which scope was missing.
      if (status === 401) reply.header("www-authenticate", `Bearer realm="propeller", error="invalid_token"`);
      if (error instanceof UnauthorizedError && error.code === "missing_credentials") reply.header("www-authenticate", `Bearer realm="propeller"`);
      if (error instanceof ForbiddenError) reply.header("www-authenticate", `Bearer realm="propeller", error="insufficient_scope"${error.scope ? `, scope="${error.scope}"` : ""}`);
      if (error instanceof TooManyFailuresError) reply.header("retry-after", String(error.retryAfterSeconds));
      if (status === 500) request.log.error({ err: error.message, code: error.code }, "request failed");
      return reply.status(status).send({ code: status === 500 ? "internal" : error.code, message: status === 500 ? "internal error" : error.message });
    }
    const fe = error as FastifyError;
    switch (fe.code) {
      case "FST_ERR_VALIDATION":
        return reply.status(400).send({ code: "invalid_request", message: fe.message });
      case "FST_ERR_CTP_INVALID_JSON_BODY":
      case "FST_ERR_CTP_EMPTY_JSON_BODY":
        return reply.status(400).send({ code: "malformed_json", message: `request body is not valid JSON: ${fe.message}` });
      case "FST_ERR_CTP_BODY_TOO_LARGE":
        return reply.status(413).send({ code: "too_large", message: "request body is larger than the server accepts" });
      case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
        return reply.status(415).send({ code: "unsupported_media_type", message: "send application/json" });
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ code: "bad_request", message: fe.message });
    }
    request.log.error({ err: fe.message }, "request failed");
    return reply.status(500).send({ code: "internal", message: "internal error" });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}` }),
  );
}
