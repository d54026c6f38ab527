import { DEFAULT_TOPIC_ROOT, isValidPropletId } from "../../protocol/topics.js";
import { ID_PLACEHOLDER, MANAGER_IDENTITY, aclRules } from "./acl.js";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { CERT_MODE, writeFileAtomic } from "../../certs/index.js";
import { BrokerConfigError, serverFiles } from "./mosquitto-config.js";

/**
 * The nats-server configuration equivalent to acl.ts, for NATS's MQTT gateway with mTLS.
 *
 * NATS checks permissions on subjects, not MQTT topics: `a/b` becomes `a.b`, `+` becomes `*` and
 * `#` becomes `>`. NATS has no per-user pattern like Mosquitto's `%u` in a configuration file, so
 * every proplet is a user of its own, listed by id: adding a proplet means regenerating this file
 * and reloading the server (`nats-server --signal reload`). A certificate whose subject is not
 * listed is refused at connect time; a SUBSCRIBE outside a user's rules gets a failure SUBACK.
 *
 * Identities: `tls { verify_and_map: true }` makes the client certificate's subject the user name;
 * our certificates carry no SANs for clients, so the subject DN is what NATS matches.
 */

/** The subject DN NATS maps a client certificate to (certs/issue.ts writes CN, OU=kind, O=Propeller). */
export function natsUserForCertificate(commonName: string, kind: "proplet" | "manager-client"): string {
  return `CN=${commonName},OU=${kind},O=Propeller`;
}

/**
 * An MQTT topic filter as the NATS subject NATS checks permissions against. Refuses what the
 * conversion would escape or cannot express (a `.`, whitespace, an empty level, NATS's own
 * wildcards): a rule we write must mean exactly the topic it came from.
 */
export function natsSubjectForTopic(topic: string): string {
  const levels = topic.split("/");
  return levels
    .map((level) => {
      if (level === "+") return "*";
      if (level === "#") return ">";
      if (level.length === 0 || /[.\s*>"#+]/.test(level)) {
        throw new BrokerConfigError(`topic "${topic}" cannot be written as a NATS subject rule (no ".", whitespace, empty levels, "*" or ">" in a level)`);
      }
      return level;
    })
    .join(".");
}

/**
 * The gateway delivers QoS 1 subscriptions through a JetStream consumer whose delivery subject is
 * `$MQTT.sub.<random>`, subscribed to under the client's own permissions: without this grant every
 * QoS 1 SUBSCRIBE fails. An MQTT client cannot name these subjects itself (the test checks that a
 * proplet subscribing to `$MQTT/sub/#` gets nothing), so the grant widens nothing.
 */
export const NATS_QOS1_DELIVERY_SUBJECTS = "$MQTT.sub.>";

export interface NatsAuthorizationOptions {
  /** Every proplet allowed on the broker (ids, as in their certificates' CN). */
  proplets: readonly string[];
  topicRoot?: string;
}

export interface NatsUser {
  user: string;
  publish: string[];
  subscribe: string[];
}

/** The users and their subject permissions: the manager, then each proplet with its own topics only. */
export function natsUsers(options: NatsAuthorizationOptions): NatsUser[] {
  const rules = aclRules(options.topicRoot ?? DEFAULT_TOPIC_ROOT);
  const seen = new Set<string>();
  for (const id of options.proplets) {
    if (!isValidPropletId(id) || id === MANAGER_IDENTITY) throw new BrokerConfigError(`"${id}" is not a proplet id`);
    if (seen.has(id)) throw new BrokerConfigError(`proplet "${id}" is listed twice`);
    seen.add(id);
  }
  const own = (list: string[], id: string) => list.map((t) => natsSubjectForTopic(t.replace(ID_PLACEHOLDER, id)));
  const sub = (subjects: string[]) => [...subjects, NATS_QOS1_DELIVERY_SUBJECTS];
  return [
    { user: natsUserForCertificate(MANAGER_IDENTITY, "manager-client"), publish: rules.manager.publish.map(natsSubjectForTopic), subscribe: sub(rules.manager.subscribe.map(natsSubjectForTopic)) },
    ...options.proplets.map((id) => ({ user: natsUserForCertificate(id, "proplet"), publish: own(rules.proplet.publish, id), subscribe: sub(own(rules.proplet.subscribe, id)) })),
  ];
}

export interface NatsConfigOptions extends NatsAuthorizationOptions {
  /** The MQTT listener (mTLS). */
  mqttPort: number;
  /** The NATS protocol listener: also mTLS with the same users (it would otherwise bypass the MQTT rules). */
  clientPort: number;
  host?: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** JetStream's store: the MQTT gateway keeps sessions and QoS 1 messages there. */
  storeDir: string;
  /** JetStream needs a server name. */
  serverName: string;
}

const str = (value: string) => JSON.stringify(value);
const list = (values: string[]) => `[${values.map(str).join(", ")}]`;

function checkPort(what: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new BrokerConfigError(`invalid ${what} port ${port}`);
  return port;
}

/** A nats-server configuration: mTLS on both listeners, identities from certificates, per-user subject rules. */
export function natsConfig(options: NatsConfigOptions): string {
  const host = options.host ?? "127.0.0.1";
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new BrokerConfigError(`invalid host "${host}"`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(options.serverName)) throw new BrokerConfigError(`invalid server name "${options.serverName}"`);
  const tls = [
    `    cert_file: ${str(options.certFile)}`,
    `    key_file: ${str(options.keyFile)}`,
    `    ca_file: ${str(options.caFile)}`,
    "    # A client certificate from our CA is required; its subject is the user below.",
    "    verify_and_map: true",
    "    timeout: 5",
  ];
  const users = natsUsers(options).map((u) =>
    [
      "    {",
      `      user: ${str(u.user)}`,
      "      permissions: {",
      `        publish: { allow: ${list(u.publish)} }`,
      `        subscribe: { allow: ${list(u.subscribe)} }`,
      "      }",
      "    }",
    ].join("\n"),
  );
  return [
    "# Generated from mqtt/security/acl.ts (nats-config.ts). Do not edit: regenerate, then reload.",
    `server_name: ${options.serverName}`,
    `listen: ${str(`${host}:${checkPort("client", options.clientPort)}`)}`,
    "tls {",
    ...tls,
    "}",
    `jetstream { store_dir: ${str(options.storeDir)} }`,
    "mqtt {",
    `  listen: ${str(`${host}:${checkPort("MQTT", options.mqttPort)}`)}`,
    "  tls {",
    ...tls.map((l) => l.slice(2)),
    "  }",
    "}",
    "# Anything not allowed here is denied; a certificate whose subject is not listed cannot connect.",
    "authorization {",
    "  users = [",
    users.join("\n"),
    "  ]",
    "}",
    "",
  ].join("\n");
}

export interface WriteNatsConfigOptions {
  certsDir: string;
  outDir: string;
  proplets: readonly string[];
  mqttPort?: number;
  clientPort?: number;
  host?: string;
  topicRoot?: string;
  serverCertName?: string;
  storeDir?: string;
  serverName?: string;
}

/** Writes `nats.conf` into outDir, referring to the certificates by absolute path. */
export async function writeNatsConfig(options: WriteNatsConfigOptions): Promise<{ configPath: string; storeDir: string }> {
  const certsDir = resolve(options.certsDir);
  const outDir = resolve(options.outDir);
  const { caFile, certFile, keyFile } = await serverFiles(certsDir, options.serverCertName ?? "broker");
  const storeDir = resolve(options.storeDir ?? join(outDir, "jetstream"));
  const config = natsConfig({
    proplets: options.proplets,
    ...(options.topicRoot !== undefined ? { topicRoot: options.topicRoot } : {}),
    mqttPort: options.mqttPort ?? 8883,
    clientPort: options.clientPort ?? 4222,
    ...(options.host !== undefined ? { host: options.host } : {}),
    caFile,
    certFile,
    keyFile,
    storeDir,
    serverName: options.serverName ?? "propeller",
  });
  await mkdir(outDir, { recursive: true, mode: 0o755 });
  await mkdir(storeDir, { recursive: true, mode: 0o700 });
  const configPath = join(outDir, "nats.conf");
  await writeFileAtomic(configPath, config, CERT_MODE, true);
  return { configPath, storeDir };
}
