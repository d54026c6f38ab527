/** What every route plugin declares the same way: its scope and the error replies it documents. */
import type { FastifyContextConfig } from "fastify";
import type { TSchema } from "@sinclair/typebox";
import { ErrorReply } from "../../../protocol/api/index.js";

/** Scopes for the REST auth hook (constants, so they type-check before that hook declares `scope`). */
export const READ = { scope: "read" } as FastifyContextConfig;
export const SUBMIT = { scope: "submit" } as FastifyContextConfig;
export const ADMIN = { scope: "admin" } as FastifyContextConfig;

/** `{code, message}` replies for these statuses, for the route's response schema (and OpenAPI). */
export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorReply])) as Record<number, TSchema>;
