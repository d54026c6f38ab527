import { DEFAULT_TOPIC_ROOT, isValidPropletId } from "../../protocol/topics.js";
import { ID_PLACEHOLDER, MANAGER_IDENTITY, aclRules } from "./acl.js";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CERT_MODE, writeFileAtomic } from "../../certs/index.js";
import { BrokerConfigError, serverFiles } from "./mosquitto-config.js";

/**
 * RabbitMQ's MQTT plugin configured as acl.ts says, for mTLS deployments.
 *
 * - Identity: `mqtt.ssl_cert_login = true` with `ssl_cert_login_from = common_name` makes the client
 *   certificate's CN the RabbitMQ user; that user must exist (no password: it can log in no other way).
 * - Topic authorisation: MQTT topics are AMQP routing keys on `amq.topic` with `/` as `.` (and `+`
 *   as `*`); `set_topic_permissions` takes one write and one read regex per user, matched against
 *   the routing key (for a SUBSCRIBE, the filter's). A proplet's regexes name its own topics only.
 * - Session queues: the plugin keeps a client's subscriptions in `mqtt-subscription-<client id>qos0|1`,
 *   and the client id is NOT tied to the certificate. The per-user resource permissions below let a
 *   user declare and read only the queues of its own client ids (`<id>:proplet`, `manager:*`), so a
 *   rogue that connects with another proplet's client id cannot attach to that proplet's queue. It
 *   can still knock that proplet's connection off (the plugin closes the older holder of a client
 *   id before it checks the queue): RabbitMQ has no setting tying client ids to users.
 *
 * The output is a definitions document (`rabbitmqctl import_definitions`, or `definitions.local.path`
 * at boot): users, their vhost permissions and their topic permissions. Like NATS, there is no
 * per-user pattern for resources, so every proplet is listed; regenerate and import on a new proplet.
 */

/** Regex-escapes a literal (RabbitMQ uses Erlang's re, PCRE syntax). */
function lit(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, (c) => `\\${c}`);
}

/** An MQTT topic (filter) as the routing key RabbitMQ checks, refusing what the plugin would rewrite. */
export function rabbitRoutingKeyForTopic(topic: string): string {
  return topic
    .split("/")
    .map((level) => {
      if (level === "+") return "*";
      if (level === "#") return "#";
      // The plugin swaps "." and "/": a "." in a topic would become a level separator in the rule.
      if (level.length === 0 || /[.\s*#+]/.test(level)) {
        throw new BrokerConfigError(`topic "${topic}" cannot be written as a RabbitMQ routing-key rule (no ".", whitespace, empty levels or "*" in a level)`);
      }
      return level;
    })
    .join(".");
}

/** Routing-key rules (with `*` for one level, as the manager's come) as one anchored regex. */
function routingKeyRegex(rules: string[]): string {
  const alternatives = rules.map((rule) =>
    rabbitRoutingKeyForTopic(rule)
      .split(".")
      // A `*` level in a rule grants any one level: a concrete name, or the `*` of a wildcard SUBSCRIBE.
      .map((level) => (level === "*" ? "[^.]+" : lit(level)))
      .join("\\."),
  );
  return `^(${alternatives.join("|")})$`;
}

export interface RabbitDefinitionsOptions {
  proplets: readonly string[];
  topicRoot?: string;
  /** The vhost the MQTT plugin uses (`mqtt.vhost`, default "/"). */
  vhost?: string;
  /** The exchange it publishes to (`mqtt.exchange`, default amq.topic). */
  exchange?: string;
}

export interface RabbitDefinitions {
  vhosts: Array<{ name: string }>;
  users: Array<{ name: string; password_hash: string; hashing_algorithm: string; tags: string[] }>;
  permissions: Array<{ user: string; vhost: string; configure: string; write: string; read: string }>;
  topic_permissions: Array<{ user: string; vhost: string; exchange: string; write: string; read: string }>;
}

/** The client ids each identity connects with (manager/index.ts, proplet/agent/agent.ts). */
const MANAGER_CLIENT_ID_RE = `${lit(MANAGER_IDENTITY)}:[^ ]+`;
const propletClientIdRe = (id: string) => `${lit(id)}:proplet`;

export function rabbitDefinitions(options: RabbitDefinitionsOptions): RabbitDefinitions {
  const rules = aclRules(options.topicRoot ?? DEFAULT_TOPIC_ROOT);
  const vhost = options.vhost ?? "/";
  const exchange = options.exchange ?? "amq.topic";
  const seen = new Set<string>();
  for (const id of options.proplets) {
    if (!isValidPropletId(id) || id === MANAGER_IDENTITY) throw new BrokerConfigError(`"${id}" is not a proplet id`);
    if (seen.has(id)) throw new BrokerConfigError(`proplet "${id}" is listed twice`);
    seen.add(id);
  }
  const identities = [
    { name: MANAGER_IDENTITY, clientId: MANAGER_CLIENT_ID_RE, publish: rules.manager.publish, subscribe: rules.manager.subscribe },
    ...options.proplets.map((id) => ({
      name: id,
      clientId: propletClientIdRe(id),
      publish: rules.proplet.publish.map((t) => t.replace(ID_PLACEHOLDER, id)),
      subscribe: rules.proplet.subscribe.map((t) => t.replace(ID_PLACEHOLDER, id)),
    })),
  ];
  const queues = (clientId: string) => `mqtt-subscription-${clientId}qos[01]`;
  return {
    vhosts: [{ name: vhost }],
    // An empty hash: no password matches it, so the certificate is the only way in.
    users: identities.map((i) => ({ name: i.name, password_hash: "", hashing_algorithm: "rabbit_password_hashing_sha256", tags: [] })),
    permissions: identities.map((i) => ({
      user: i.name,
      vhost,
      configure: `^${queues(i.clientId)}$`,
      write: `^(${lit(exchange)}|${queues(i.clientId)})$`,
      read: `^(${lit(exchange)}|${queues(i.clientId)})$`,
    })),
    topic_permissions: identities.map((i) => ({ user: i.name, vhost, exchange, write: routingKeyRegex(i.publish), read: routingKeyRegex(i.subscribe) })),
  };
}

export interface RabbitConfigOptions {
  /** The MQTT-over-TLS listener. */
  mqttPort: number;
  /** The AMQP listener (loopback; RabbitMQ always has one). */
  amqpPort: number;
  host?: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  definitionsFile: string;
}

/** rabbitmq.conf (new-style): MQTT only over TLS, client certificate required, CN as the user. */
export function rabbitConfig(options: RabbitConfigOptions): string {
  const host = options.host ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new BrokerConfigError(`invalid host "${host}"`);
  for (const [what, port] of [["MQTT", options.mqttPort], ["AMQP", options.amqpPort]] as const) {
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new BrokerConfigError(`invalid ${what} port ${port}`);
  }
  for (const file of [options.caFile, options.certFile, options.keyFile, options.definitionsFile]) {
    if (!/^\/[^\s#]+$/.test(file)) throw new BrokerConfigError(`"${file}" must be an absolute path without whitespace or #`);
  }
  return [
    "# Generated from mqtt/security/acl.ts (rabbitmq-config.ts). Regenerate rather than edit.",
    `listeners.tcp.default = ${host}:${options.amqpPort}`,
    "mqtt.listeners.tcp = none",
    `mqtt.listeners.ssl.default = ${host}:${options.mqttPort}`,
    `ssl_options.cacertfile = ${options.caFile}`,
    `ssl_options.certfile = ${options.certFile}`,
    `ssl_options.keyfile = ${options.keyFile}`,
    "# Every client presents a certificate from our CA; its CN is the RabbitMQ user.",
    "ssl_options.verify = verify_peer",
    "ssl_options.fail_if_no_peer_cert = true",
    "mqtt.ssl_cert_login = true",
    "ssl_cert_login_from = common_name",
    "mqtt.allow_anonymous = false",
    "# Users and their vhost and topic permissions (rabbitDefinitions).",
    "definitions.import_backend = local_filesystem",
    `definitions.local.path = ${options.definitionsFile}`,
    "",
  ].join("\n");
}

export interface WriteRabbitConfigOptions {
  certsDir: string;
  outDir: string;
  proplets: readonly string[];
  mqttPort?: number;
  amqpPort?: number;
  host?: string;
  topicRoot?: string;
  serverCertName?: string;
}

/** Writes `rabbitmq.conf` and `definitions.json` into outDir, referring to the certificates by absolute path. */
export async function writeRabbitConfig(options: WriteRabbitConfigOptions): Promise<{ configPath: string; definitionsPath: string }> {
  const certsDir = resolve(options.certsDir);
  const outDir = resolve(options.outDir);
  const { caFile, certFile, keyFile } = await serverFiles(certsDir, options.serverCertName ?? "broker");
  const definitionsPath = join(outDir, "definitions.json");
  const definitions = rabbitDefinitions({ proplets: options.proplets, ...(options.topicRoot !== undefined ? { topicRoot: options.topicRoot } : {}) });
  const config = rabbitConfig({ mqttPort: options.mqttPort ?? 8883, amqpPort: options.amqpPort ?? 5672, ...(options.host !== undefined ? { host: options.host } : {}), caFile, certFile, keyFile, definitionsFile: definitionsPath });
  await mkdir(outDir, { recursive: true, mode: 0o755 });
  await writeFileAtomic(definitionsPath, JSON.stringify(definitions, null, 2) + "\n", CERT_MODE, true);
  const configPath = join(outDir, "rabbitmq.conf");
  await writeFileAtomic(configPath, config, CERT_MODE, true);
  return { configPath, definitionsPath };
}
