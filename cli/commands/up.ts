import { randomBytes } from "node:crypto";
import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";

/**
 * Writes the manager's admin API key to `<stateDir>/manager-token` (0600, also when the file existed
 * with other permissions): the CLI reads it from there when there is no --token / PROPELLER_TOKEN.
 */
export async function writeManagerToken(stateDir: string, token: string): Promise<string> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, "manager-token");
  // A new file created 0600 and renamed over the old one: the token is never in a readable file.
  const temporary = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temporary, token + "\n", { mode: 0o600, flag: "wx" });
  await rename(temporary, path);
  return path;
}

/**
 * `propeller up`: broker + database + manager + N proplets in one process, on the embedded
 * defaults unless --mqtt / --database point elsewhere. Runs until SIGINT / SIGTERM.
 */
export async function upCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parse(
    "up",
    argv,
    {
      proplets: { type: "string" },
      port: { type: "string" },
      host: { type: "string" },
      mqtt: { type: "string" },
      database: { type: "string" },
      "data-dir": { type: "string" },
      "log-level": { type: "string" },
      "no-kbs": { type: "boolean" },
      "kbs-port": { type: "string" },
      "state-dir": { type: "string" },
      mtls: { type: "boolean" },
      certs: { type: "string" },
    },
    false,
  );
  if (values.certs && !values.mtls) throw new UsageError("--certs goes with --mtls (the certificates the embedded broker and its clients use)");
  if (values.mtls && values.mqtt) throw new UsageError("--mtls secures the embedded broker; an external broker (--mqtt) enforces its own TLS configuration");
  const logger = cliLogger(values["log-level"]);
  const databaseUrl = values.database ?? (values["data-dir"] ? `pglite://${values["data-dir"]}` : undefined);
  const stack = await startStack({
    proplets: parsePositiveInt("--proplets", values.proplets, 2),
    managerPort: values.port ? parsePositiveInt("--port", values.port, 7070) : 7070,
    ...(values.host ? { managerHost: values.host } : {}),
    ...(values.mqtt ? { mqttUrl: values.mqtt } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    kbs: !values["no-kbs"],
    kbsPort: values["kbs-port"] ? parsePositiveInt("--kbs-port", values["kbs-port"], 8080) : 8080,
    ...(values.mtls ? { mtls: values.certs ? { certsDir: values.certs } : {} } : {}),
    logger,
  });
  io.out(`manager   ${stack.managerUrl}   (OpenAPI: ${stack.managerUrl}/openapi.json)`);
  io.out(`broker    ${stack.brokerUrl}${values.mqtt ? "" : "   (embedded aedes)"}`);
  if (stack.certsDir) io.out(`          mTLS: client certificates from ${stack.certsDir} required, ACL enforced${values.certs ? "" : " (throwaway development PKI)"}`);
  io.out(`database  ${stack.databaseUrl.startsWith("pglite://") ? `${stack.databaseUrl}   (embedded PGlite)` : "PostgreSQL"}`);
  io.out(`proplets  ${stack.proplets.map((p) => p.id).join(", ")}`);
  const stateDir = resolve(values["state-dir"] ?? ".propeller");
  const tokenPath = await writeManagerToken(stateDir, stack.managerToken);
  io.out(`          admin API key ${tokenPath} (0600); the CLI uses it from this directory, or export PROPELLER_TOKEN="$(cat ${tokenPath})"`);
  if (stack.kbs) {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    // The admin key of this development KBS, for `propeller encrypt` / `propeller kbs …`.
    const keyPath = join(stateDir, "kbs-admin.key.jwk");
    await writeFile(keyPath, JSON.stringify(stack.kbs.adminKey) + "\n", { mode: 0o600 });
    await chmod(keyPath, 0o600);
    io.out(`kbs       ${stack.kbs.url}   (DEVELOPMENT MODE: accepts the sample TEE, which proves nothing)`);
    io.out(`          admin key ${keyPath} (0600); export PROPELLER_KBS_URL=${stack.kbs.url} PROPELLER_KBS_ADMIN_KEY=${keyPath}`);
  }
  io.out(`try: propeller run examples/hello/hello.wasm --manager ${stack.managerUrl} world`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  io.err("shutting down…");
  await stack.close();
  return 0;
}
