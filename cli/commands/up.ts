import { parse, parsePositiveInt } from "../args.js";
import { cliLogger } from "../logger.js";
import type { Output } from "../output.js";
import { startStack } from "../stack.js";

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
    },
    false,
  );
  const logger = cliLogger(values["log-level"]);
  const databaseUrl = values.database ?? (values["data-dir"] ? `pglite://${values["data-dir"]}` : undefined);
  const stack = await startStack({
    proplets: parsePositiveInt("--proplets", values.proplets, 2),
    managerPort: values.port ? parsePositiveInt("--port", values.port, 7070) : 7070,
    ...(values.host ? { managerHost: values.host } : {}),
    ...(values.mqtt ? { mqttUrl: values.mqtt } : {}),
    ...(databaseUrl ? { databaseUrl } : {}),
    logger,
  });
  io.out(`manager   ${stack.managerUrl}   (OpenAPI: ${stack.managerUrl}/openapi.json)`);
  io.out(`broker    ${stack.brokerUrl}${values.mqtt ? "" : "   (embedded aedes)"}`);
  io.out(`database  ${stack.databaseUrl.startsWith("pglite://") ? `${stack.databaseUrl}   (embedded PGlite)` : "PostgreSQL"}`);
  io.out(`proplets  ${stack.proplets.map((p) => p.id).join(", ")}`);
  io.out(`try: propeller run examples/hello/hello.wasm --manager ${stack.managerUrl} world`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  io.err("shutting down…");
  await stack.close();
  return 0;
}
