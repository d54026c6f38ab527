import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";
import { CLIENT_FLAGS, clientFrom } from "./task.js";
import { API_SCOPES, type ApiScope } from "../../protocol/api/index.js";

/**
 * `propeller apikey generate|create|list|revoke`: `generate` prints a fresh key offline (for a
 * bootstrap key file); the others go through the manager's REST API with an admin credential.
 */
const isApiScope = (s: string): s is ApiScope => (API_SCOPES as readonly string[]).includes(s);

export async function apikeyCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "generate": {
      const { values } = parse("apikey generate", rest, { json: { type: "boolean" } }, false);
      // Only the key format (a protocol contract): generating a key must not load (or need) a manager.
      const { generateApiKey } = await import("../../protocol/api-key.js");
      const { key, keyId } = generateApiKey();
      io.out(values.json ? JSON.stringify({ keyId, key }) : key);
      return 0;
    }
    case "create": {
      const { values } = parse("apikey create", rest, { ...CLIENT_FLAGS, name: { type: "string" }, scopes: { type: "string" } }, false);
      if (!values.name) throw new UsageError("apikey create needs --name NAME (what the key is for)");
      const scopes = (values.scopes ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      if (scopes.length === 0 || !scopes.every(isApiScope)) {
        throw new UsageError(`apikey create needs --scopes, a comma list of ${API_SCOPES.join(", ")} (e.g. --scopes read,submit)`);
      }
      const created = await clientFrom(values).createApiKey(values.name, [...new Set(scopes)]);
      if (values.json) io.out(JSON.stringify(created, null, 2));
      else {
        io.out(created.key);
        io.err(`created API key ${created.id} "${created.name}" (${created.scopes.join(", ")}); the key above is shown only now: store it`);
      }
      return 0;
    }
    case "list": {
      const { values } = parse("apikey list", rest, CLIENT_FLAGS, false);
      const { items } = await clientFrom(values).listApiKeys();
      if (values.json) io.out(JSON.stringify(items, null, 2));
      else {
        io.out(
          items
            .map((k) => `${k.id}  ${k.revokedAt ? "revoked" : "active "}  ${k.scopes.join(",").padEnd(17)} last used ${k.lastUsedAt ?? "never"}  ${k.name}`)
            .join("\n") || "no API keys",
        );
      }
      return 0;
    }
    case "revoke": {
      const { values, positionals } = parse("apikey revoke", rest, CLIENT_FLAGS);
      if (positionals.length !== 1) throw new UsageError("apikey revoke takes exactly one key id (see `propeller apikey list`)");
      await clientFrom(values).revokeApiKey(positionals[0]!);
      io.out(values.json ? JSON.stringify({ revoked: positionals[0] }) : `revoked ${positionals[0]}`);
      return 0;
    }
    default:
      throw new UsageError(`unknown apikey command "${sub ?? ""}": use generate, create, list or revoke`);
  }
}
