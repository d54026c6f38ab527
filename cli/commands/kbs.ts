import { chmod, readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { JWK } from "jose";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { messageOf } from "../../lib/errors.js";
import { clientEnv } from "../client-env.js";
import { stackKbs } from "../state-dir.js";

const CONN_FLAGS = {
  kbs: { type: "string" },
  "admin-key": { type: "string" },
  "admin-token": { type: "string" },
  "state-dir": { type: "string" },
  json: { type: "boolean" },
} as const;

type KbsModule = typeof import("../../kbs/index.js");
const kbsModule = (): Promise<KbsModule> => import("../../kbs/index.js");

/**
 * Admin connection from flags or environment: --kbs / PROPELLER_KBS_URL, and either
 * --admin-token / PROPELLER_KBS_ADMIN_TOKEN or --admin-key FILE / PROPELLER_KBS_ADMIN_KEY
 * (a private JWK from `propeller kbs admin-keygen`; a short-lived token is minted per call).
 */
export async function adminConnection(values: { kbs?: string; "admin-key"?: string; "admin-token"?: string; "state-dir"?: string }) {
  const { mintAdminToken } = await kbsModule();
  const env = clientEnv();
  // Else the development KBS of `propeller up`, with its admin key (only for that KBS).
  const local = stackKbs(values["state-dir"]);
  const url = values.kbs ?? env.kbsUrl ?? local?.url;
  if (!url) throw new UsageError("which KBS? give --kbs URL or set PROPELLER_KBS_URL (or start one with `propeller up`)");
  const token = values["admin-token"] ?? env.kbsAdminToken;
  if (token) return { url, token };
  const keyFile = values["admin-key"] ?? env.kbsAdminKey ?? (local && local.url === url ? local.adminKeyFile : undefined);
  if (!keyFile) throw new UsageError("the KBS admin API needs a credential: --admin-key FILE (from `propeller kbs admin-keygen`) or --admin-token T");
  let jwk: JWK;
  try {
    jwk = JSON.parse(await readFile(keyFile, "utf8")) as JWK;
  } catch {
    throw new UsageError(`cannot read the admin key ${keyFile} (a private JWK written by \`propeller kbs admin-keygen\`)`);
  }
  if (!jwk.d || !jwk.kid) throw new UsageError(`${keyFile} is not a private admin JWK with a kid`);
  const keyId = jwk.kid;
  return { url, token: () => mintAdminToken(jwk, { keyId, subject: "cli", lifetimeSeconds: 120 }) };
}

async function readPayload(source: string): Promise<Buffer> {
  if (source === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  return readFile(source).catch(() => {
    throw new UsageError(`cannot read ${source}`);
  });
}

async function readJsonFile(path: string, what: string): Promise<unknown> {
  const text = (await readPayload(path)).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} ${path} is not JSON: ${messageOf(err)}`);
  }
}

/** `propeller kbs serve | admin-keygen | resource … | policy … | refvalue … | audit` */
export async function kbsCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  const kbs = await kbsModule();
  const print = (value: unknown, json: boolean | undefined, text: string) => io.out(json ? JSON.stringify(value, null, 2) : text);

  switch (sub) {
    case "serve": {
      const { values } = parse("kbs serve", rest, {
        config: { type: "string" },
        listen: { type: "string" },
        database: { type: "string" },
        dev: { type: "boolean" },
        "master-key-file": { type: "string" },
        "log-level": { type: "string" },
        json: { type: "boolean" },
      }, false);
      const fromFile = values.config ? ((await readJsonFile(values.config, "--config")) as Record<string, unknown>) : {};
      const input = { ...fromFile, ...kbs.kbsConfigFromEnv(process.env) } as Parameters<typeof kbs.resolveKbsConfig>[0];
      // Files for a deployment (docker-compose.yml): HTTPS certificate and key, the database password.
      const extras = await (await import("../service-env.js")).kbsServeExtrasFromEnv(process.env);
      if (extras.tls) input.tls = extras.tls;
      if (extras.databaseUrl) input.databaseUrl = extras.databaseUrl;
      if (values.listen) {
        const m = /^(.+):(\d{1,5})$/.exec(values.listen);
        if (!m) throw new UsageError(`--listen takes host:port, got "${values.listen}"`);
        input.listen = { host: m[1]!, port: Number(m[2]) };
      }
      if (values.database) input.databaseUrl = values.database;
      if (values.dev) input.developmentMode = true;
      if (values["master-key-file"]) input.masterKeyFile = values["master-key-file"];
      const logger = cliLogger(values["log-level"]);
      const running = await kbs.startKbs(input, { logger });
      if (input.developmentMode) io.err("WARNING: the KBS runs in DEVELOPMENT MODE: it accepts the sample TEE, which proves nothing. Never use this for real secrets.");
      io.out(values.json ? JSON.stringify({ url: running.url, jwks: `${running.url}/.well-known/jwks.json` }) : `KBS listening on ${running.url} (JWKS: ${running.url}/.well-known/jwks.json)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await running.close();
      return 0;
    }
    case "admin-keygen": {
      const { values } = parse("kbs admin-keygen", rest, { id: { type: "string" }, out: { type: "string" }, alg: { type: "string" }, json: { type: "boolean" } }, false);
      const alg = values.alg ?? "EdDSA";
      if (alg !== "EdDSA" && alg !== "ES256") throw new UsageError("--alg is EdDSA or ES256");
      const pair = await kbs.adminKeygen({ ...(values.id ? { id: values.id } : {}), alg });
      const dir = values.out ?? ".";
      await mkdir(dir, { recursive: true });
      const privatePath = join(dir, `${pair.id}.key.jwk`);
      const publicPath = join(dir, `${pair.id}.pub.jwk`);
      await writeFile(privatePath, JSON.stringify({ ...pair.privateJwk, kid: pair.id, alg }) + "\n", { mode: 0o600, flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(err.code === "EEXIST" ? `${privatePath} exists; choose another --id or --out` : `cannot write ${privatePath}: ${err.message}`);
      });
      await chmod(privatePath, 0o600);
      await writeFile(publicPath, JSON.stringify({ ...pair.publicJwk, kid: pair.id, alg }) + "\n", { mode: 0o644 });
      const adminKeys = `[{"id":"${pair.id}","publicKey":"file:${publicPath}","roles":["admin"]}]`;
      if (values.json) {
        io.out(JSON.stringify({ id: pair.id, alg, privateKeyPath: privatePath, publicKeyPath: publicPath, adminKeysSetting: adminKeys }, null, 2));
        return 0;
      }
      io.out(`private key: ${privatePath} (0600; keep it secret)\npublic key:  ${publicPath}`);
      io.out(`configure the KBS with: PROPELLER_KBS_ADMIN_KEYS='${adminKeys}'`);
      return 0;
    }
    case "resource": {
      const [verb, ...args] = rest;
      const { values, positionals } = parse(`kbs resource ${verb ?? ""}`, args, { ...CONN_FLAGS, prefix: { type: "string" } });
      const conn = await adminConnection(values);
      if (verb === "put") {
        const [path, source] = positionals;
        if (!path || !source) throw new UsageError("kbs resource put <repo/type/tag> <FILE|->");
        const r = await kbs.putResource(conn, path, await readPayload(source));
        print(r, values.json, `stored ${r.path} (${r.size} bytes); it is released only where its policy allows (\`propeller kbs policy set\`)`);
      } else if (verb === "list") {
        const items = await kbs.listResources(conn, values.prefix ? { prefix: values.prefix } : {});
        print(items, values.json, items.map((i) => JSON.stringify(i)).join("\n") || "no resources");
      } else if (verb === "show") {
        if (!positionals[0]) throw new UsageError("kbs resource show <repo/type/tag>");
        io.out(JSON.stringify(await kbs.getResourceMetadata(conn, positionals[0]), null, 2));
      } else if (verb === "rm") {
        if (!positionals[0]) throw new UsageError("kbs resource rm <repo/type/tag>");
        await kbs.deleteResource(conn, positionals[0]);
        print({ deleted: positionals[0] }, values.json, `deleted ${positionals[0]}`);
      } else throw new UsageError("kbs resource put|list|show|rm");
      return 0;
    }
    case "policy": {
      const [verb, ...args] = rest;
      const { values, positionals } = parse(`kbs policy ${verb ?? ""}`, args, CONN_FLAGS);
      const conn = await adminConnection(values);
      const path = positionals[0];
      if (!path) throw new UsageError(`kbs policy ${verb ?? "set|get"} <repo/type/tag> ...`);
      if (verb === "set") {
        if (!positionals[1]) throw new UsageError("kbs policy set <repo/type/tag> <policy.json>");
        const policy = kbs.parseResourcePolicy(await readJsonFile(positionals[1], "policy"));
        await kbs.setResourcePolicy(conn, path, policy);
        print({ path, policy }, values.json, `policy set on ${path}`);
      } else if (verb === "get") {
        io.out(JSON.stringify(await kbs.getResourcePolicy(conn, path), null, 2));
      } else throw new UsageError("kbs policy set|get");
      return 0;
    }
    case "attestation-policy": {
      // The appraisal policy of one TEE (validated by the KBS, which answers every problem).
      const [verb, ...args] = rest;
      const { values, positionals } = parse(`kbs attestation-policy ${verb ?? ""}`, args, CONN_FLAGS);
      const conn = await adminConnection(values);
      const tee = positionals[0];
      if (!tee) throw new UsageError("kbs attestation-policy set <tee> <policy.json> | get <tee>");
      if (verb === "set") {
        if (!positionals[1]) throw new UsageError("kbs attestation-policy set <tee> <policy.json>");
        const policy = (await readJsonFile(positionals[1], "policy")) as Parameters<typeof kbs.setAttestationPolicy>[2];
        const r = await kbs.setAttestationPolicy(conn, tee, policy);
        print(r, values.json, `attestation policy set for ${tee}`);
      } else if (verb === "get") {
        io.out(JSON.stringify(await kbs.getAttestationPolicy(conn, tee), null, 2));
      } else throw new UsageError("kbs attestation-policy set|get");
      return 0;
    }
    case "refvalue": {
      const [verb, ...args] = rest;
      const { values } = parse(`kbs refvalue ${verb ?? ""}`, args, {
        ...CONN_FLAGS,
        tee: { type: "string" },
        claim: { type: "string" },
        value: { type: "string" },
        expires: { type: "string" },
        note: { type: "string" },
      }, false);
      const conn = await adminConnection(values);
      if (verb === "add") {
        if (!values.tee || !values.claim || !values.value || !values.expires) {
          throw new UsageError("kbs refvalue add --tee T --claim /measurement --value HEX --expires ISO-TIME [--note TEXT]");
        }
        if (Number.isNaN(Date.parse(values.expires))) throw new UsageError(`--expires "${values.expires}" is not an ISO time`);
        const rv = await kbs.addReferenceValue(conn, { tee: values.tee, claim: values.claim, value: values.value, expiresAt: new Date(values.expires).toISOString(), ...(values.note ? { note: values.note } : {}) });
        print(rv, values.json, `added ${JSON.stringify(rv)}`);
      } else if (verb === "list") {
        const items = await kbs.listReferenceValues(conn, values.tee);
        print(items, values.json, items.map((i) => JSON.stringify(i)).join("\n") || "no reference values");
      } else throw new UsageError("kbs refvalue add|list");
      return 0;
    }
    case "audit": {
      const { values } = parse("kbs audit", rest, { ...CONN_FLAGS, limit: { type: "string" } }, false);
      const rows = await kbs.readAudit(await adminConnection(values), values.limit ? { limit: Number(values.limit) } : {});
      io.out(JSON.stringify(rows, null, 2));
      return 0;
    }
    default:
      throw new UsageError(`unknown kbs command "${sub ?? ""}": use serve, admin-keygen, resource, policy, attestation-policy, refvalue or audit`);
  }
}
