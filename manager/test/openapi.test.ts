/**
 * The REST contract lives in protocol/api: every schema a route declares is one of its exports (the
 * very object), the OpenAPI document is generated from those routes, and docs/api.md's route index
 * is what the generator produces.
 */
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import type { RouteEntry } from "../http/app.js";
import { DOC_PATH, documentedRoutes, routeIndex, schemaName, withIndex } from "../http/route-index.js";
import { ErrorReply, Task, TaskCreate } from "../../protocol/api/index.js";

interface Operation {
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses: Record<string, { content?: Record<string, { schema: { properties?: Record<string, unknown> } }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

const openApiPath = (url: string) => url.replace(/:(\w+)/g, "{$1}");
const keysOf = (schema: unknown) => Object.keys((schema as { properties?: object } | undefined)?.properties ?? {}).sort();

describe("the REST contract is protocol/api's", () => {
  let routes: RouteEntry[];
  let doc: Document;
  beforeAll(async () => {
    const built = await documentedRoutes();
    routes = built.routes.filter((r) => r.method !== "HEAD");
    doc = built.openapi as Document;
  });

  it("every schema a route declares is a protocol/api export, the same object", () => {
    expect(routes.length).toBeGreaterThanOrEqual(35);
    const strays: string[] = [];
    for (const r of routes) {
      const s = r.schema;
      if (!s) {
        strays.push(`${r.method} ${r.url}: no schema`);
        continue;
      }
      for (const [part, schema] of [["params", s.params], ["querystring", s.querystring], ["body", s.body], ...Object.entries(s.response ?? {})] as const) {
        if (schema !== undefined && schemaName(schema) === undefined) strays.push(`${r.method} ${r.url} ${part}`);
      }
    }
    expect(strays).toEqual([]);
    const create = routes.find((r) => r.method === "POST" && r.url === "/tasks")!;
    expect(create.schema!.body).toBe(TaskCreate);
    expect(create.schema!.response!["201"]).toBe(Task);
    expect(create.schema!.response!["400"]).toBe(ErrorReply);
  });

  it("the OpenAPI document is generated from those routes: each operation, status, parameter and field", () => {
    const documented = routes.filter((r) => !r.schema?.hide);
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(documented.map((r) => `${r.method} ${openApiPath(r.url)}`).sort());
    for (const r of documented) {
      const op = doc.paths[openApiPath(r.url)]![r.method.toLowerCase()]!;
      const where = `${r.method} ${r.url}`;
      const response = r.schema!.response ?? {};
      expect(Object.keys(op.responses).filter((s) => s !== "204" && s !== "default").sort(), where).toEqual(Object.keys(response).sort());
      for (const [status, schema] of Object.entries(response)) {
        const served = Object.values(op.responses[status]!.content ?? {})[0]?.schema;
        expect(keysOf(served), `${where} ${status}`).toEqual(keysOf(schema));
      }
      if (r.schema!.body) expect(keysOf(op.requestBody!.content["application/json"]!.schema), where).toEqual(keysOf(r.schema!.body));
      const parameters = (op.parameters ?? []).map((p) => `${p.in} ${p.name}`).sort();
      const declared = [...keysOf(r.schema!.params).map((k) => `path ${k}`), ...keysOf(r.schema!.querystring).map((k) => `query ${k}`)].sort();
      expect(parameters, where).toEqual(declared);
    }
  });

  it("docs/api.md's route index is the generated one", async () => {
    const text = await readFile(DOC_PATH, "utf8");
    expect(withIndex(text, routeIndex(routes)), "run npx tsx manager/http/route-index.ts --write").toBe(text);
  });
});
