import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { JWK } from "jose";
import { parse, parsePositiveInt } from "../args.js";
import { UsageError } from "../errors.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";
import { untilSignal } from "../signals.js";
import { ensureStateDir, lockStateDir, readSmallFile, STATE_FILES, StateDirBusyError, stateDirFrom, stateKey, writePrivateFile, writeStackInfo } from "../state-dir.js";

/**
 * Writes the manager's admin API key to `<stateDir>/manager-token` (0600, also when the file existed
 * with other permissions): the CLI reads it from there when there is no --token / PROPELLER_TOKEN.
 */
export async function writeManagerToken(stateDir: string, token: string): Promise<string> {
  await ensureStateDir(stateDir);
  const path = join(stateDir, STATE_FILES.managerToken);
  // A new file created 0600 and renamed over the old one: the token is never in a readable file.
  await writePrivateFile(path, token + "\n");
  return path;
}

/**
 * `propeller up`: broker + database + manager + KBS + N proplets in one process, on the embedded
 * defaults unless --mqtt / --database point elsewhere, until SIGINT / SIGTERM. Everything it keeps
 * is in one state directory (`propeller up --help`), so a restart keeps tasks, schedules and
 * history, and other commands find the manager and its token there; --ephemeral uses a temporary one.
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
      "log-file": { type: "string" },
      "no-kbs": { type: "boolean" },
      "kbs-port": { type: "string" },
      "state-dir": { type: "string" },
      ephemeral: { type: "boolean" },
      mtls: { type: "boolean" },
      certs: { type: "string" },
      json: { type: "boolean" },
    },
    false,
  );
  if (values.certs && !values.mtls) throw new UsageError("--certs goes with --mtls (the certificates the embedded broker and its clients use)");
  if (values.mtls && values.mqtt) throw new UsageError("--mtls secures the embedded broker; an external broker (--mqtt) enforces its own TLS configuration");
  if (values.ephemeral && values["state-dir"]) throw new UsageError("--ephemeral uses a temporary state directory: not with --state-dir");
  if (values.database && values["data-dir"]) throw new UsageError("--database and --data-dir both name the database: give one");
  const proplets = parsePositiveInt("--proplets", values.proplets, 2);
  const managerPort = parsePort("--port", values.port, 7070);
  const kbsPort = parsePort("--kbs-port", values["kbs-port"], 8080);

  const stateDir = values.ephemeral ? await mkdtemp(join(tmpdir(), "propeller-state-")) : stateDirFrom(values["state-dir"]);
  await ensureStateDir(stateDir);
  const release = await lockStateDir(stateDir).catch((err: unknown) => {
    if (err instanceof StateDirBusyError) throw new UsageError(err.message);
    throw err;
  });
  const logger = cliLogger(values["log-level"], values["log-file"]);
  let stack: Awaited<ReturnType<typeof startStack>> | undefined;
  try {
    // `--data-dir` (older) is a PGlite directory of the caller's choosing.
    const databaseUrl = values.database ?? `pglite://${values["data-dir"] ? resolve(values["data-dir"]) : join(stateDir, STATE_FILES.managerDb)}`;
    const kbs = !values["no-kbs"];
    const adminKeyPath = join(stateDir, STATE_FILES.kbsAdminKey);
    const kbsState = kbs
      ? {
          databaseUrl: `pglite://${join(stateDir, STATE_FILES.kbsDb)}`,
          masterKey: await stateKey(stateDir, STATE_FILES.kbsMasterKey),
          ...(await readAdminKey(adminKeyPath)),
        }
      : undefined;
    stack = await startStack({
      proplets,
      managerPort,
      ...(values.host ? { managerHost: values.host } : {}),
      ...(values.mqtt ? { mqttUrl: values.mqtt } : {}),
      databaseUrl,
      kbs,
      kbsPort,
      ...(kbsState ? { kbsState } : {}),
      secretsKey: Buffer.from(await stateKey(stateDir, STATE_FILES.secretsKey), "base64"),
      ...(values.mtls ? { mtls: values.certs ? { certsDir: values.certs } : {} } : {}),
      logger,
    }).catch((err: unknown) => {
      throw portInUse(err, managerPort, kbsPort) ?? err;
    });
    const tokenPath = await writeManagerToken(stateDir, stack.managerToken);
    if (stack.kbs) await writePrivateFile(adminKeyPath, JSON.stringify(stack.kbs.adminKey) + "\n");
    await writeStackInfo(stateDir, { managerUrl: stack.managerUrl, brokerUrl: stack.brokerUrl, kbsUrl: stack.kbs?.url ?? null, pid: process.pid, startedAt: new Date().toISOString() });

    if (values.json) {
      io.out(
        JSON.stringify({
          stateDir,
          ephemeral: values.ephemeral === true,
          managerUrl: stack.managerUrl,
          brokerUrl: stack.brokerUrl,
          database: stack.databaseUrl.startsWith("pglite://") ? stack.databaseUrl : "postgres",
          proplets: stack.proplets.map((p) => p.id),
          tokenFile: tokenPath,
          kbsUrl: stack.kbs?.url ?? null,
          kbsAdminKeyFile: stack.kbs ? adminKeyPath : null,
        }),
      );
    } else {
      io.out(`manager   ${stack.managerUrl}   (OpenAPI: ${stack.managerUrl}/openapi.json)`);
      io.out(`dashboard ${stack.managerUrl}/ui   (sign in with an API key, e.g. the manager-token file)`);
      io.out(`broker    ${stack.brokerUrl}${values.mqtt ? "" : "   (embedded aedes)"}`);
      if (stack.certsDir) io.out(`          mTLS: client certificates from ${stack.certsDir} required, ACL enforced${values.certs ? "" : " (throwaway development PKI)"}`);
      io.out(`database  ${stack.databaseUrl.startsWith("pglite://") ? `${stack.databaseUrl}   (embedded PGlite)` : "PostgreSQL"}`);
      io.out(`proplets  ${stack.proplets.map((p) => p.id).join(", ")}`);
      io.out(`state     ${stateDir}${values.ephemeral ? "   (ephemeral: removed at exit)" : "   (kept: a restart keeps tasks, schedules and history)"}`);
      io.out(`          admin API key ${tokenPath} (0600); other commands use it${values["state-dir"] ? ` with --state-dir ${stateDir} or PROPELLER_STATE_DIR=${stateDir}` : values.ephemeral ? ` with --state-dir ${stateDir}` : ""}`);
      if (stack.kbs) {
        io.out(`kbs       ${stack.kbs.url}   (DEVELOPMENT MODE: accepts the sample TEE, which proves nothing)`);
        io.out(`          admin key ${adminKeyPath} (0600); export PROPELLER_KBS_URL=${stack.kbs.url} PROPELLER_KBS_ADMIN_KEY=${adminKeyPath}`);
      }
      io.out(`try: propeller run examples/hello/hello.wasm${values["state-dir"] || values.ephemeral ? ` --state-dir ${stateDir}` : ""} world`);
    }
    const stop = untilSignal();
    try {
      await stop.signal;
    } finally {
      stop.dispose();
    }
    io.err("shutting down…");
    return 0;
  } finally {
    await stack?.close();
    await release();
    if (values.ephemeral) await rm(stateDir, { recursive: true, force: true });
  }
}

/** A port another program holds, said as the user's choice to make (not a stack trace). */
function portInUse(err: unknown, managerPort: number, kbsPort: number): UsageError | undefined {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code !== "EADDRINUSE") return undefined;
  const flag = e.port === kbsPort && e.port !== managerPort ? "--kbs-port" : "--port";
  return new UsageError(`port ${e.port ?? "?"} on ${e.address ?? "127.0.0.1"} is already in use (another \`propeller up\`, or another program): stop it, or choose another with ${flag} P (0: any free port)`);
}

/** A TCP port, 0 meaning any free one (stack.json then says which). */
function parsePort(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 0 && n <= 65_535)) throw new UsageError(`${flag} takes a port 0..65535 (0: any free port), got "${value}"`);
  return n;
}

/** The development KBS's admin key from an earlier start, so PROPELLER_KBS_ADMIN_KEY stays valid. */
async function readAdminKey(path: string): Promise<{ adminKey?: JWK }> {
  const text = readSmallFile(path);
  if (text === undefined) return {};
  try {
    const jwk = JSON.parse(text) as JWK;
    return jwk.d && jwk.kid ? { adminKey: jwk } : {};
  } catch {
    return {};
  }
}
