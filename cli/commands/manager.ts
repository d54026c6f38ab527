import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { managerSettingsFromEnv, MANAGER_SERVE_ENV, ServiceEnvError } from "../service-env.js";
import { untilSignal } from "../signals.js";
import type { ManagerConfigInput } from "../../manager/index.js";

export const MANAGER_USAGE = `usage:
  propeller manager serve [--log-level L] [--json]
        run the manager until SIGTERM/SIGINT, configured by the environment:
        ${MANAGER_SERVE_ENV.join(", ")}
        (files for keys and secrets: *_FILE; see README "Production")`;

/** `propeller manager serve`: the long-running manager of a deployment, configured by the environment. */
export async function managerCommand(argv: string[], io: Output, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === "help") {
    io.out(MANAGER_USAGE);
    return 0;
  }
  if (sub !== "serve") throw new UsageError(`unknown manager command "${sub ?? ""}"\n${MANAGER_USAGE}`);
  const { values } = parse("manager serve", rest, { "log-level": { type: "string" }, help: { type: "boolean", short: "h" }, json: { type: "boolean" } }, false);
  if (values.help) {
    io.out(MANAGER_USAGE);
    return 0;
  }
  const settings = await managerSettingsFromEnv(env);
  const logger = cliLogger(values["log-level"]);
  const { startManager } = await import("../../manager/index.js");
  // `http.tls` and `auth` are ManagerConfigInput fields (manager/config.ts).
  const input: ManagerConfigInput = {
    databaseUrl: settings.databaseUrl,
    mqtt: settings.mqtt,
    ...(settings.topicRoot !== undefined ? { topicRoot: settings.topicRoot } : {}),
    http: settings.http,
    auth: settings.auth,
    ...(settings.secretsKey ? { secretsKey: settings.secretsKey } : {}),
    ...(settings.log ? { log: settings.log } : {}),
    ...(settings.ui ? { ui: settings.ui } : {}),
    logger,
  };
  const stop = untilSignal();
  try {
    const manager = await startManager(input);
    if (settings.http.tls && !manager.url.startsWith("https://")) {
      // Never serve plain HTTP when HTTPS was asked for (a manager built without HTTPS support).
      await manager.close();
      throw new ServiceEnvError(["PROPELLER_HTTP_TLS_CERT_FILE: this manager cannot serve HTTPS; refusing to serve plain HTTP instead"]);
    }
    io.out(values.json ? JSON.stringify({ url: manager.url }) : `manager listening on ${manager.url}`);
    const signal = await stop.signal;
    logger.info({ signal }, "shutting down");
    await manager.close();
    return 0;
  } finally {
    stop.dispose();
  }
}
