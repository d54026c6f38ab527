/** The one table from service errors to REST statuses. */
import { describe, expect, it } from "vitest";
import { statusOf } from "../http/errors.js";
import { AuthUnavailableError, ConflictError, ForbiddenError, InvalidRequestError, NotFoundError, TooManyFailuresError, UnauthorizedError } from "../errors.js";
import { InvocationError } from "../invocations/service.js";
import { DigestError, PropellerError, SchemaError, SizeLimitError } from "../../protocol/index.js";

describe("service error → HTTP status", () => {
  it("maps each error kind to its status, and anything unnamed to 500", () => {
    expect(statusOf(new UnauthorizedError("missing_credentials", "m"))).toBe(401);
    expect(statusOf(new ForbiddenError("insufficient_scope", "m", "admin"))).toBe(403);
    expect(statusOf(new TooManyFailuresError("m", 5))).toBe(429);
    expect(statusOf(new AuthUnavailableError("m"))).toBe(503);
    expect(statusOf(new NotFoundError("task_not_found", "m"))).toBe(404);
    expect(statusOf(new ConflictError("illegal_transition", "m"))).toBe(409);
    expect(statusOf(new InvalidRequestError("invalid_url", "m"))).toBe(400);
    expect(statusOf(new DigestError("digest_mismatch", "m"))).toBe(400);
    expect(statusOf(new SchemaError("m"))).toBe(400);
    expect(statusOf(new SizeLimitError("m"))).toBe(413);
    expect(statusOf(new PropellerError("something_else", "m"))).toBe(500);
  });

  it("an invocation that cannot be served: 503 when no proplet can take it, 504 past its deadline", () => {
    for (const code of ["busy", "function_failed", "no_matching_proplet"]) expect(statusOf(new InvocationError(503, code, "m")), code).toBe(503);
    expect(statusOf(new InvocationError(504, "deadline_exceeded", "m"))).toBe(504);
  });
});
