import type { FastifyPluginAsync, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { AttestationPolicySchema, defaultAttestationPolicy } from "../../attestation/appraisal/index.js";
import { ReferenceValueInputSchema } from "../../attestation/appraisal/index.js";
import { AdminAuthenticator, type AdminPrincipal } from "../admin/auth.js";
import type { AdminRole } from "../config.js";
import type { KbsContext } from "../context.js";
import { KbsError } from "../errors.js";
import { parseResourcePolicy } from "../policy/resource-policy.js";
import { ErrorBody, ResourceParams } from "./schemas.js";

const WRITE: AdminRole[] = ["admin", "resource-writer"];
const READ: AdminRole[] = ["admin", "resource-writer", "reader"];
const ADMIN: AdminRole[] = ["admin"];

const ResourceMetadata = Type.Object({
  path: Type.String(),
  size: Type.Integer(),
  contentType: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  updatedBy: Type.String(),
  hasPolicy: Type.Boolean(),
});
const ReferenceValueOut = Type.Object({
  id: Type.String(),
  tee: Type.String(),
  claim: Type.String(),
  value: Type.Unknown(),
  expiresAt: Type.String(),
  note: Type.Optional(Type.String()),
  createdAt: Type.Optional(Type.String()),
  createdBy: Type.Optional(Type.String()),
});
const Tee = Type.String({ pattern: "^[a-z0-9-]{1,32}$" });
/** Query numbers arrive as text; bodies are never type-coerced (runtime data is hashed as sent). */
const QueryInt = Type.String({ pattern: "^[1-9][0-9]{0,15}$" });

/**
 * The admin API (Trustee's shapes where it has them): resources (raw bytes in, metadata out —
 * secret bytes never leave through admin), per-resource policies, attestation policies,
 * reference values, the audit log. Every call is authenticated, role-checked and audited.
 */
export function adminRoutes(ctx: KbsContext): FastifyPluginAsync {
  const auth = new AdminAuthenticator(ctx.config.admin);
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();

    // Raw bytes for resource uploads, bounded while reading.
    app.addContentTypeParser(["application/octet-stream", "text/plain"], { parseAs: "buffer", bodyLimit: ctx.config.limits.resourceBytes }, (_req, body, done) => done(null, body));

    /** Authenticates, authorises, runs, and audits one admin action. */
    async function admin<T>(request: FastifyRequest, action: string, subject: string | undefined, roles: AdminRole[], run: (who: AdminPrincipal) => Promise<T>): Promise<T> {
      let who: AdminPrincipal | undefined;
      try {
        who = await auth.authenticate(request.headers.authorization, roles);
        const result = await run(who);
        await ctx.audit.record({ event: "admin", outcome: "ok", actor: who.actor, subject, reason: action, client: request.ip });
        ctx.metrics.admin.inc({ action, outcome: "ok" });
        return result;
      } catch (err) {
        const principal = who ?? (err as { principal?: AdminPrincipal }).principal;
        const reason = err instanceof Error ? err.message : String(err);
        await ctx.audit.record({ event: "admin", outcome: err instanceof KbsError && err.status < 500 ? "denied" : "error", actor: principal?.actor, subject, reason: `${action}: ${reason}`, client: request.ip });
        ctx.metrics.admin.inc({ action, outcome: err instanceof KbsError ? err.variant : "error" });
        if (err instanceof KbsError) err.audited = true;
        throw err;
      }
    }

    r.post(
      "/kbs/v0/resource/:repo/:type/:tag",
      { bodyLimit: ctx.config.limits.resourceBytes, schema: { params: ResourceParams, response: { 200: Type.Object({ path: Type.String(), size: Type.Integer(), created: Type.Boolean() }), "4xx": ErrorBody } } },
      async (request) => {
        const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
        return admin(request, "resource.put", path, WRITE, async (who) => {
          const body = request.body;
          if (!Buffer.isBuffer(body)) throw new KbsError("InvalidRequest", "send the resource as raw bytes (Content-Type: application/octet-stream)");
          if (body.length === 0) throw new KbsError("InvalidRequest", "the resource is empty");
          const { created } = await ctx.resources.put(path, body, who.actor, "application/octet-stream");
          return { path, size: body.length, created };
        });
      },
    );

    r.delete("/kbs/v0/resource/:repo/:type/:tag", { schema: { params: ResourceParams, response: { 200: Type.Object({ deleted: Type.String() }), "4xx": ErrorBody } } }, async (request) => {
      const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
      return admin(request, "resource.delete", path, WRITE, async () => {
        if (!(await ctx.resources.delete(path))) throw new KbsError("ResourceNotFound", `resource ${path} does not exist`);
        return { deleted: path };
      });
    });

    r.get(
      "/kbs/v0/admin/resources",
      {
        schema: {
          querystring: Type.Object({ prefix: Type.Optional(Type.String({ maxLength: 400 })), after: Type.Optional(Type.String({ maxLength: 400 })), limit: Type.Optional(QueryInt) }, { additionalProperties: false }),
          response: { 200: Type.Object({ resources: Type.Array(ResourceMetadata) }), "4xx": ErrorBody },
        },
      },
      async (request) =>
        admin(request, "resource.list", request.query.prefix, READ, async () => ({
          resources: await ctx.resources.list({ limit: Math.min(Number(request.query.limit ?? 100), 1000) || 100, ...(request.query.prefix ? { prefix: request.query.prefix } : {}), ...(request.query.after ? { after: request.query.after } : {}) }),
        })),
    );

    r.get("/kbs/v0/admin/resource/:repo/:type/:tag", { schema: { params: ResourceParams, response: { 200: ResourceMetadata, "4xx": ErrorBody } } }, async (request) => {
      const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
      return admin(request, "resource.get", path, READ, async () => {
        const meta = await ctx.resources.metadata(path);
        if (!meta) throw new KbsError("ResourceNotFound", `resource ${path} does not exist`);
        return meta;
      });
    });

    const setPolicy = async (request: FastifyRequest<{ Params: { repo: string; type: string; tag: string } }>) => {
      const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
      return admin(request, "resource-policy.set", path, WRITE, async (who) => {
        const policy = parseResourcePolicy(request.body);
        await ctx.policies.setResourcePolicy(path, policy, who.actor);
        return { path, policy };
      });
    };
    const policyRoute = { schema: { params: ResourceParams, body: Type.Unknown(), response: { 200: Type.Object({ path: Type.String(), policy: Type.Unknown() }), "4xx": ErrorBody } } };
    r.post("/kbs/v0/resource-policy/:repo/:type/:tag", policyRoute, setPolicy);
    r.put("/kbs/v0/resource-policy/:repo/:type/:tag", policyRoute, setPolicy);

    r.get(
      "/kbs/v0/resource-policy/:repo/:type/:tag",
      { schema: { params: ResourceParams, response: { 200: Type.Object({ path: Type.String(), policy: Type.Unknown(), updatedAt: Type.String(), updatedBy: Type.String() }), "4xx": ErrorBody } } },
      async (request) => {
        const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
        return admin(request, "resource-policy.get", path, READ, async () => {
          const stored = await ctx.policies.resourcePolicy(path);
          if (!stored) throw new KbsError("NotFound", `resource ${path} has no policy (it is never released)`);
          return { path, ...stored };
        });
      },
    );

    r.delete("/kbs/v0/resource-policy/:repo/:type/:tag", { schema: { params: ResourceParams, response: { 200: Type.Object({ deleted: Type.String() }), "4xx": ErrorBody } } }, async (request) => {
      const path = `${request.params.repo}/${request.params.type}/${request.params.tag}`;
      return admin(request, "resource-policy.delete", path, WRITE, async () => {
        if (!(await ctx.policies.deleteResourcePolicy(path))) throw new KbsError("NotFound", `resource ${path} has no policy`);
        return { deleted: path };
      });
    });

    // Trustee's global Rego resource policy has no equivalent here: say where the per-resource one goes.
    r.post("/kbs/v0/resource-policy", { schema: { body: Type.Unknown(), response: { "4xx": ErrorBody } } }, async (request) =>
      admin(request, "resource-policy.set", undefined, WRITE, async () => {
        throw new KbsError("InvalidRequest", "this KBS has declarative per-resource policies, not one Rego policy: PUT /kbs/v0/resource-policy/<repo>/<type>/<tag> with a JSON policy (kbs/README.md)");
      }),
    );

    r.post(
      "/kbs/v0/attestation-policy",
      { schema: { body: Type.Object({ tee: Tee, policy: Type.Unknown() }, { additionalProperties: false }), response: { 200: Type.Object({ tee: Type.String(), policy: Type.Unknown() }), "4xx": ErrorBody } } },
      async (request) =>
        admin(request, "attestation-policy.set", request.body.tee, ADMIN, async (who) => {
          const { tee, policy } = request.body;
          if (!Value.Check(AttestationPolicySchema, policy)) {
            const problems = [...Value.Errors(AttestationPolicySchema, policy)].slice(0, 20).map((e) => `${e.path || "(policy)"}: ${e.message}`);
            throw new KbsError("InvalidPolicy", `the attestation policy is invalid: ${problems.join("; ")}`);
          }
          await ctx.policies.setAttestationPolicy(tee, policy, who.actor);
          return { tee, policy };
        }),
    );

    r.get("/kbs/v0/attestation-policy/:tee", { schema: { params: Type.Object({ tee: Tee }), response: { 200: Type.Object({ tee: Type.String(), policy: Type.Unknown(), stored: Type.Boolean() }), "4xx": ErrorBody } } }, async (request) =>
      admin(request, "attestation-policy.get", request.params.tee, READ, async () => {
        const stored = await ctx.policies.attestationPolicy(request.params.tee);
        return { tee: request.params.tee, policy: stored ? { ...defaultAttestationPolicy(request.params.tee), ...(stored.policy as object) } : defaultAttestationPolicy(request.params.tee), stored: stored !== undefined };
      }),
    );

    r.post("/kbs/v0/reference-value", { schema: { body: ReferenceValueInputSchema, response: { 201: ReferenceValueOut, "4xx": ErrorBody } } }, async (request, reply) =>
      admin(request, "reference-value.add", `${request.body.tee}:${request.body.claim}`, ADMIN, async (who) => {
        const expiresAt = new Date(request.body.expiresAt);
        if (Number.isNaN(expiresAt.getTime())) throw new KbsError("InvalidRequest", "expiresAt is not a date");
        if (expiresAt.getTime() <= Date.now()) throw new KbsError("InvalidRequest", "expiresAt is in the past");
        const rv = await ctx.referenceValues.add({ ...request.body, expiresAt }, who.actor);
        reply.code(201);
        return rv;
      }),
    );

    r.get(
      "/kbs/v0/reference-values",
      { schema: { querystring: Type.Object({ tee: Type.Optional(Tee) }, { additionalProperties: false }), response: { 200: Type.Object({ referenceValues: Type.Array(ReferenceValueOut) }), "4xx": ErrorBody } } },
      async (request) => admin(request, "reference-value.list", request.query.tee, READ, async () => ({ referenceValues: await ctx.referenceValues.list(request.query.tee) })),
    );

    r.delete("/kbs/v0/reference-value/:id", { schema: { params: Type.Object({ id: Type.String({ format: "uuid" }) }), response: { 200: Type.Object({ deleted: Type.String() }), "4xx": ErrorBody } } }, async (request) =>
      admin(request, "reference-value.delete", request.params.id, ADMIN, async () => {
        if (!(await ctx.referenceValues.delete(request.params.id))) throw new KbsError("NotFound", `no reference value ${request.params.id}`);
        return { deleted: request.params.id };
      }),
    );

    r.get(
      "/kbs/v0/admin/audit",
      {
        schema: {
          querystring: Type.Object({ limit: Type.Optional(QueryInt), before: Type.Optional(QueryInt), event: Type.Optional(Type.Union(["auth", "attest", "release", "deny", "admin"].map((e) => Type.Literal(e)))) }, { additionalProperties: false }),
          response: { 200: Type.Object({ entries: Type.Array(Type.Unknown()) }), "4xx": ErrorBody },
        },
      },
      async (request) =>
        admin(request, "audit.read", undefined, ["admin", "reader"], async () => ({
          entries: await ctx.audit.recent({ limit: Math.min(Number(request.query.limit ?? 100), 1000) || 100, ...(request.query.before ? { beforeId: Number(request.query.before) } : {}), ...(request.query.event ? { event: request.query.event as "auth" } : {}) }),
        })),
    );

    r.post("/kbs/v0/admin/rotate-signing-key", { schema: { response: { 200: Type.Object({ kid: Type.String() }), "4xx": ErrorBody } } }, async (request) =>
      admin(request, "signing-key.rotate", undefined, ADMIN, async () => {
        await ctx.signingKeys.rotate();
        const key = await ctx.signingKeys.signingKey();
        return { kid: key.kid };
      }),
    );
  };
}
