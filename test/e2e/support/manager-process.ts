/**
 * One manager as its own OS process, for the multi-manager test: configured from the environment
 * (PROPELLER_DATABASE_URL, PROPELLER_MQTT_URL, PROPELLER_TOPIC_ROOT, PROPELLER_MANAGER_ID), HTTP on
 * a free port, the admin key in PROPELLER_ADMIN_KEY as its bootstrap key; prints {"url": …} on one line once listening; closes cleanly on SIGTERM.
 */
import pino from "pino";
import { startManager } from "../../../manager/index.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
};

const manager = await startManager({
  databaseUrl: env("PROPELLER_DATABASE_URL"),
  mqtt: { url: env("PROPELLER_MQTT_URL") },
  topicRoot: env("PROPELLER_TOPIC_ROOT"),
  managerId: env("PROPELLER_MANAGER_ID"),
  http: { port: 0 },
  auth: { bootstrapKeys: [{ name: "test admin", key: env("PROPELLER_ADMIN_KEY"), scopes: ["admin"] }] },
  ackTimeoutMs: 60_000,
  reconcileGraceMs: 1000,
  logger: pino({ level: process.env.PROPELLER_TEST_LOG ?? "silent" }),
});
process.stdout.write(`${JSON.stringify({ url: manager.url })}\n`);
process.once("SIGTERM", () => {
  void manager.close().then(() => process.exit(0));
});
