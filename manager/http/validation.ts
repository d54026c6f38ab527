/**
 * Request validation with TypeBox's own compiler: bodies strictly (no coercion, unknown fields
 * refused), query strings and path parameters with string → number/boolean conversion only.
 */
import type { FastifySchemaCompiler } from "fastify";
import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { Value } from "@sinclair/typebox/value";

function describeErrors(check: ReturnType<typeof TypeCompiler.Compile>, value: unknown): string {
  return [...check.Errors(value)]
    .slice(0, 3)
    .map((e) => `${e.path || "/"}: ${e.message}`)
    .join("; ");
}

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const convert = httpPart === "querystring" || httpPart === "params";
  return (data: unknown) => {
    const value = convert ? Value.Convert(schema, data) : data;
    if (check.Check(value)) return { value };
    const error = new Error(`${httpPart ?? "request"} ${describeErrors(check, value)}`);
    return { error };
  };
};
