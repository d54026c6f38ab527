import type { FastifyPluginAsync } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import type { KbsContext } from "../context.js";
import { attest, startSession, type AttestRequest } from "../service/attestation.js";
import { releaseResource, type Credential } from "../service/release.js";
import { AttestBody, AuthBody, ErrorBody, JweBody, ResourceParams } from "./schemas.js";
import { ATTR, SPAN } from "../../protocol/trace.js";
import { failSpan, inSpan, tracer, type Span } from "../../lib/tracing/spans.js";

/** The KBS's spans (children of the request span, which joins the caller's traceparent). No token or key in any attribute. */
const kbsTracer = tracer("kbs");
const refused = (span: Span, err: unknown) => {
  const code = err instanceof Error && "code" in err ? String((err as { code: unknown }).code) : "error";
  span.setAttributes({ [ATTR.outcome]: "denied", [ATTR.errorCode]: code });
  failSpan(span, code);
};

export const SESSION_COOKIE = "kbs-session-id";
const SESSION_ID = /^[0-9a-f]{32}$/;

/** The three client calls of the KBS protocol (KBS-PROTOCOL.md). */
export function protocolRoutes(ctx: KbsContext): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();
    const rateLimit = { max: ctx.config.rateLimit.max, timeWindow: ctx.config.rateLimit.windowMs };

    r.post(
      "/kbs/v0/auth",
      {
        config: { rateLimit },
        schema: { body: AuthBody, response: { 200: Type.Object({ nonce: Type.String(), "extra-params": Type.String() }), "4xx": ErrorBody } },
      },
      async (request, reply) => {
        const { sessionId, nonce } = await startSession(ctx, request.body, request.ip);
        reply.setCookie(SESSION_COOKIE, sessionId, { path: "/kbs/v0", httpOnly: true, sameSite: "strict", maxAge: ctx.config.sessionLifetimeSeconds });
        return { nonce, "extra-params": "" };
      },
    );

    r.post(
      "/kbs/v0/attest",
      { config: { rateLimit }, schema: { body: AttestBody, response: { 200: Type.Object({ token: Type.String() }), "4xx": ErrorBody } } },
      async (request) => {
        const sessionId = sessionCookie(request.cookies[SESSION_COOKIE]);
        const { token } = await inSpan(kbsTracer, SPAN.kbsAttest, {}, async (span) => {
          try {
            const outcome = await attest(ctx, sessionId ?? "-", request.body as AttestRequest, request.ip);
            span.setAttributes({ [ATTR.tee]: outcome.tee, [ATTR.outcome]: outcome.status });
            return outcome;
          } catch (err) {
            refused(span, err);
            throw err;
          }
        });
        return { token };
      },
    );

    r.get(
      "/kbs/v0/resource/:repo/:type/:tag",
      { schema: { params: ResourceParams, response: { 200: JweBody, "4xx": ErrorBody } } },
      async (request) => {
        const { repo, type, tag } = request.params;
        const authorization = request.headers.authorization;
        const bearer = authorization ? /^Bearer\s+(\S{1,65536})$/i.exec(authorization)?.[1] : undefined;
        const sessionId = sessionCookie(request.cookies[SESSION_COOKIE]);
        const credential: Credential = bearer ? { kind: "bearer", token: bearer } : sessionId ? { kind: "cookie", sessionId } : { kind: "none" };
        return inSpan(kbsTracer, SPAN.kbsRelease, { [ATTR.kbsResource]: `kbs:///${repo}/${type}/${tag}` }, async (span) => {
          try {
            const jwe = await releaseResource(ctx, `${repo}/${type}/${tag}`, credential, request.ip);
            span.setAttribute(ATTR.outcome, "released");
            return jwe;
          } catch (err) {
            refused(span, err);
            throw err;
          }
        });
      },
    );
  };
}

function sessionCookie(value: string | undefined): string | undefined {
  // A malformed cookie is treated as an unknown session (no lookup of attacker-chosen text).
  return value !== undefined ? (SESSION_ID.test(value) ? value : "-") : undefined;
}
