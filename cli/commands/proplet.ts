import { writeFile } from "node:fs/promises";
import type { PropletTeeConfig } from "../../proplet/index.js";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { propletSettingsFromEnv, PROPLET_SERVE_ENV } from "../service-env.js";
import { untilSignal } from "../signals.js";
import { messageOf } from "../../lib/errors.js";

export const PROPLET_USAGE = `usage:
  propeller proplet serve [--log-level L] [--json]
        run one proplet until SIGTERM/SIGINT, configured by the environment:
        ${PROPLET_SERVE_ENV.join(", ")}
        its id is the CN of its client certificate (PROPELLER_MQTT_CERT_FILE); PROPELLER_PROPLET_ID, if set, must match`;

/** How often the health file is rewritten; a health check calls the proplet dead after ~3 misses. */
export const HEALTH_FILE_INTERVAL_MS = 10_000;

/** `propeller proplet serve`: one long-running proplet, configured by the environment. */
export async function propletCommand(argv: string[], io: Output, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === "help") {
    io.out(PROPLET_USAGE);
    return 0;
  }
  if (sub !== "serve") throw new UsageError(`unknown proplet command "${sub ?? ""}"\n${PROPLET_USAGE}`);
  const { values } = parse("proplet serve", rest, { "log-level": { type: "string" }, help: { type: "boolean", short: "h" }, json: { type: "boolean" } }, false);
  if (values.help) {
    io.out(PROPLET_USAGE);
    return 0;
  }
  const settings = await propletSettingsFromEnv(env);
  const logger = cliLogger(values["log-level"]);
  const { startProplet } = await import("../../proplet/index.js");
  const stop = untilSignal();
  let timer: NodeJS.Timeout | undefined;
  try {
    const proplet = await startProplet({
      id: settings.id,
      mqtt: settings.mqtt,
      ...(settings.topicRoot !== undefined ? { topicRoot: settings.topicRoot } : {}),
      // Validated by the proplet's config resolver (one message per bad member).
      ...(settings.tee ? { tee: settings.tee as PropletTeeConfig } : {}),
      ...(settings.tags ? { tags: settings.tags } : {}),
      ...(settings.workDir ? { workDir: settings.workDir } : {}),
      ...(settings.metrics ? { metrics: settings.metrics } : {}),
      logger: logger.child({ box: "proplet" }),
    });
    io.out(
      values.json
        ? JSON.stringify({ id: proplet.id, mqttUrl: settings.mqtt.url, ...(proplet.metricsUrl ? { metricsUrl: proplet.metricsUrl } : {}) })
        : `proplet ${proplet.id} connected to ${settings.mqtt.url}${proplet.metricsUrl ? `; metrics at ${proplet.metricsUrl}` : ""}`,
    );
    const healthFile = settings.healthFile;
    if (healthFile) {
      // For a container health check: the file's mtime is fresh while the proplet is connected to
      // the broker (a proplet that cannot reach the broker goes unhealthy after a few intervals).
      const touch = async () => {
        if (!proplet.connected()) return;
        await writeFile(healthFile, `${new Date().toISOString()} ${proplet.id}\n`).catch((err: unknown) => logger.warn({ err: messageOf(err), healthFile }, "cannot write the health file"));
      };
      await touch();
      timer = setInterval(() => void touch(), HEALTH_FILE_INTERVAL_MS);
      timer.unref();
    }
    const signal = await stop.signal;
    logger.info({ signal }, "shutting down");
    if (timer) clearInterval(timer);
    await proplet.close();
    return 0;
  } finally {
    if (timer) clearInterval(timer);
    stop.dispose();
  }
}
