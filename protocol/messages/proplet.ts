import { Type, type Static } from "@sinclair/typebox";
import { LIMITS } from "../limits.js";
import { ARTIFACT_SOURCES } from "./common.js";
import { Name, PropletId, RunRef, RuntimeSchema, TeeTypeSchema, message } from "./common.js";

/** A public key as a JWK (EC P-256 / P-384 or OKP Ed25519); only public members are allowed. */
export const PublicJwk = Type.Object(
  {
    kty: Type.Union([Type.Literal("EC"), Type.Literal("OKP"), Type.Literal("RSA")]),
    crv: Type.Optional(Type.String({ maxLength: 16 })),
    x: Type.Optional(Type.String({ maxLength: 256 })),
    y: Type.Optional(Type.String({ maxLength: 256 })),
    n: Type.Optional(Type.String({ maxLength: 1024 })),
    e: Type.Optional(Type.String({ maxLength: 16 })),
    alg: Type.Optional(Type.String({ maxLength: 32 })),
    kid: Type.Optional(Type.String({ maxLength: 128 })),
    use: Type.Optional(Type.String({ maxLength: 16 })),
  },
  { additionalProperties: false },
);
export type PublicJwk = Static<typeof PublicJwk>;

export const Capabilities = Type.Object(
  {
    runtimes: Type.Array(RuntimeSchema, { minItems: 1, maxItems: 8, uniqueItems: true }),
    artifactSources: Type.Array(Type.Union(ARTIFACT_SOURCES.map((s) => Type.Literal(s))), { maxItems: 8, uniqueItems: true }),
    /** Memory the proplet offers to workloads, in bytes. */
    memoryBytes: Type.Integer({ minimum: 0 }),
    maxConcurrency: Type.Integer({ minimum: 1, maximum: 10_000 }),
    /** The TEE the proplet runs in and can attest, or null for none. */
    tee: Type.Union([Type.Null(), Type.Object({ type: TeeTypeSchema }, { additionalProperties: false })]),
    tags: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: LIMITS.tags }),
  },
  { additionalProperties: false },
);
export type Capabilities = Static<typeof Capabilities>;

export const PropletAnnounce = message("proplet.announce", {
  propletId: PropletId,
  name: Name,
  software: Type.Object({ name: Name, version: Type.String({ maxLength: 64 }) }, { additionalProperties: false }),
  capabilities: Capabilities,
  /** Runs in progress, so a restarted manager can reconcile. */
  running: Type.Array(RunRef, { maxItems: 10_000 }),
  /** The proplet's identity key, which signs receipts of unattested runs. */
  identityKey: Type.Optional(PublicJwk),
});
export type PropletAnnounce = Static<typeof PropletAnnounce>;

export const PropletHeartbeat = message("proplet.heartbeat", {
  propletId: PropletId,
  running: Type.Array(RunRef, { maxItems: 10_000 }),
  load: Type.Object(
    { running: Type.Integer({ minimum: 0 }), maxConcurrency: Type.Integer({ minimum: 1 }) },
    { additionalProperties: false },
  ),
  freeMemoryBytes: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Heartbeat period the proplet uses, so the manager can judge missed beats. */
  intervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
});
export type PropletHeartbeat = Static<typeof PropletHeartbeat>;

/** Published by the proplet on start and (as its last will) by the broker when it vanishes. */
export const PropletStatus = message("proplet.status", {
  propletId: PropletId,
  state: Type.Union([Type.Literal("online"), Type.Literal("offline")]),
  reason: Type.Optional(Type.String({ maxLength: 512 })),
});
export type PropletStatus = Static<typeof PropletStatus>;

/** Manager → proplet housekeeping. */
export const PropletControl = message("proplet.control", {
  propletId: PropletId,
  action: Type.Literal("reannounce"),
});
export type PropletControl = Static<typeof PropletControl>;

/** Manager → all: a manager (re)started; proplets announce themselves again and resend unacknowledged results. */
export const ManagerOnline = message("manager.online", {
  managerId: Type.String({ minLength: 1, maxLength: 128 }),
});
export type ManagerOnline = Static<typeof ManagerOnline>;
