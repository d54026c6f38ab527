/**
 * The environment of the long-running services (`propeller manager serve`, `propeller proplet
 * serve`), as the README's Production section lists them. Pure functions from an env object to plain settings, so
 * that they are tested without starting anything, and so that docker-compose.yml can be checked
 * against the exact list of variables each command reads.
 *
 * Rules: secrets and keys come from files (`*_FILE`), never from the variable itself, and are never
 * printed; every bad variable is named, all at once, in one line.
 */
import type { JsonWebKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { PropellerError } from "../protocol/errors.js";
import { isValidPropletId } from "../protocol/topics.js";
import { readIdentity } from "../certs/index.js";
import { messageOf } from "../lib/errors.js";

/** Variables `propeller manager serve` reads. */
export const MANAGER_SERVE_ENV = [
  "PROPELLER_DATABASE_URL",
  "PROPELLER_DATABASE_PASSWORD_FILE",
  "PROPELLER_MQTT_URL",
  "PROPELLER_MQTT_CA_FILE",
  "PROPELLER_MQTT_CERT_FILE",
  "PROPELLER_MQTT_KEY_FILE",
  "PROPELLER_MQTT_PROTOCOL_VERSION",
  "PROPELLER_TOPIC_ROOT",
  "PROPELLER_HTTP_HOST",
  "PROPELLER_HTTP_PORT",
  "PROPELLER_HTTP_TLS_CERT_FILE",
  "PROPELLER_HTTP_TLS_KEY_FILE",
  "PROPELLER_BOOTSTRAP_API_KEY_FILE",
  "PROPELLER_SECRETS_KEY_FILE",
  "PROPELLER_JWT_ISSUER",
  "PROPELLER_JWT_AUDIENCE",
  "PROPELLER_JWT_JWKS_URL",
  "PROPELLER_TLOG_SIGNER_KEY_FILE",
  "PROPELLER_TLOG_WITNESSES",
  "PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES",
  "PROPELLER_TLOG_CHECKPOINT_EVERY_MS",
  "PROPELLER_TLOG_PUBLIC_READ",
  "PROPELLER_UI",
  "PROPELLER_UI_KBS_URL",
  "PROPELLER_UI_KBS_ADMIN_KEY_FILE",
  "PROPELLER_UI_KBS_ADMIN_KEY_ID",
  "PROPELLER_UI_KBS_ADMIN_TOKEN_FILE",
  "PROPELLER_LOG_LEVEL",
] as const;

/** Variables `propeller proplet serve` reads. */
export const PROPLET_SERVE_ENV = [
  "PROPELLER_PROPLET_ID",
  "PROPELLER_MQTT_URL",
  "PROPELLER_MQTT_CA_FILE",
  "PROPELLER_MQTT_CERT_FILE",
  "PROPELLER_MQTT_KEY_FILE",
  "PROPELLER_MQTT_PROTOCOL_VERSION",
  "PROPELLER_TOPIC_ROOT",
  "PROPELLER_TEE",
  "PROPELLER_PROPLET_TAGS",
  "PROPELLER_WORK_DIR",
  "PROPELLER_HEALTH_FILE",
  "PROPELLER_METRICS_PORT",
  "PROPELLER_METRICS_HOST",
  "PROPELLER_METRICS_TOKEN_FILE",
  "PROPELLER_LOG_LEVEL",
] as const;

/**
 * Variables `propeller kbs serve` reads: kbs/config.ts's `kbsConfigFromEnv` / `resolveKbsConfig`
 * ones, plus the files the serve command adds (HTTPS certificate and key, database password).
 */
export const KBS_SERVE_ENV = [
  "PROPELLER_KBS_LISTEN",
  "PROPELLER_KBS_DATABASE_URL",
  "PROPELLER_KBS_DEVELOPMENT",
  "PROPELLER_KBS_ISSUER",
  "PROPELLER_KBS_AUDIENCE",
  "PROPELLER_KBS_TOKEN_LIFETIME",
  "PROPELLER_KBS_SESSION_LIFETIME",
  "PROPELLER_KBS_ADMIN_KEYS",
  "PROPELLER_KBS_TPM_AK_FINGERPRINTS",
  "PROPELLER_KBS_MASTER_KEY",
  "PROPELLER_KBS_MASTER_KEY_FILE",
  "PROPELLER_KBS_TLS_CERT_FILE",
  "PROPELLER_KBS_TLS_KEY_FILE",
  "PROPELLER_KBS_DATABASE_PASSWORD_FILE",
  "PROPELLER_LOG_LEVEL",
] as const;

/**
 * Variables Node.js itself reads, which a deployment may set for any service: NODE_EXTRA_CA_CERTS
 * makes `fetch` trust the deployment's CA (the KBS and the manager serve HTTPS with certificates
 * from it).
 */
export const NODE_ENV_VARS = ["NODE_EXTRA_CA_CERTS", "NODE_ENV", "NODE_OPTIONS", "TZ"] as const;

/** Bad service environment: names every bad variable, in one line. Exit code 1. */
export class ServiceEnvError extends PropellerError {
  constructor(readonly problems: string[]) {
    super("service_env_invalid", `invalid environment: ${problems.join("; ")}`, { problems });
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** Collects problems; reads files named by `*_FILE` variables (bounded). */
class EnvReader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  /** A set, non-empty value, or undefined. An empty string counts as unset (compose `VAR=`). */
  get(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === "" ? undefined : v.trim();
  }

  require(name: string, what: string): string | undefined {
    const v = this.get(name);
    if (v === undefined) this.problems.push(`${name} is required (${what})`);
    return v;
  }

  /** The contents of the file `name` points to; at most 1 MiB (keys, certificates, one API key). */
  async file(name: string): Promise<Buffer | undefined> {
    const path = this.get(name);
    if (path === undefined) return undefined;
    try {
      const bytes = await readFile(path);
      if (bytes.byteLength > 1024 * 1024) {
        this.problems.push(`${name}: ${path} is larger than 1 MiB`);
        return undefined;
      }
      if (bytes.byteLength === 0) {
        this.problems.push(`${name}: ${path} is empty`);
        return undefined;
      }
      return bytes;
    } catch (err) {
      this.problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? messageOf(err)})`);
      return undefined;
    }
  }

  port(name: string, fallback: number): number {
    const v = this.get(name);
    if (v === undefined) return fallback;
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65_535) {
      this.problems.push(`${name}: "${v}" is not a port number (0..65535)`);
      return fallback;
    }
    return Number(v);
  }

  url(name: string, pattern: RegExp, what: string): string | undefined {
    const v = this.get(name);
    if (v !== undefined && !pattern.test(v)) {
      // URLs may carry credentials: never echo them.
      this.problems.push(`${name}: must be ${what} (got a value that is not)`);
      return undefined;
    }
    return v;
  }

  done(): void {
    if (this.problems.length > 0) throw new ServiceEnvError(this.problems);
  }
}

export interface MqttTlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** The MQTT connection settings shared by both services: URL and (for mqtts://) CA, client certificate and key. */
async function readMqtt(r: EnvReader): Promise<{ url: string; tls?: MqttTlsFiles; protocolVersion?: 4 | 5 }> {
  const url = r.require("PROPELLER_MQTT_URL", "the broker, e.g. mqtts://mosquitto:8883");
  if (url !== undefined && !/^(mqtts?|wss?):\/\/[^\s]+$/.test(url)) r.problems.push("PROPELLER_MQTT_URL: must be mqtt://, mqtts://, ws:// or wss:// followed by a host");
  const ca = await r.file("PROPELLER_MQTT_CA_FILE");
  const cert = await r.file("PROPELLER_MQTT_CERT_FILE");
  const key = await r.file("PROPELLER_MQTT_KEY_FILE");
  if ((r.get("PROPELLER_MQTT_CERT_FILE") === undefined) !== (r.get("PROPELLER_MQTT_KEY_FILE") === undefined)) {
    r.problems.push("PROPELLER_MQTT_CERT_FILE and PROPELLER_MQTT_KEY_FILE go together (the client certificate and its key)");
  }
  const secure = url !== undefined && /^(mqtts|wss):/.test(url);
  if (!secure && (r.get("PROPELLER_MQTT_CERT_FILE") !== undefined || r.get("PROPELLER_MQTT_CA_FILE") !== undefined)) {
    r.problems.push("PROPELLER_MQTT_CA_FILE / _CERT_FILE are set but PROPELLER_MQTT_URL is not mqtts:// or wss:// (the certificate would not be used)");
  }
  // 5 also carries each message's trace context in the PUBLISH user properties (Mosquitto, EMQX; not aedes).
  const version = r.get("PROPELLER_MQTT_PROTOCOL_VERSION");
  if (version !== undefined && version !== "4" && version !== "5") r.problems.push("PROPELLER_MQTT_PROTOCOL_VERSION: must be 4 (MQTT 3.1.1, the default) or 5");
  const tls: MqttTlsFiles = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  return { url: url ?? "", ...(Object.keys(tls).length > 0 ? { tls } : {}), ...(version === "5" ? { protocolVersion: 5 as const } : {}) };
}

function readTopicRoot(r: EnvReader): string | undefined {
  const root = r.get("PROPELLER_TOPIC_ROOT");
  if (root !== undefined && (/[#+\s]/.test(root) || root.startsWith("/") || root.endsWith("/") || root.length > 200)) {
    r.problems.push(`PROPELLER_TOPIC_ROOT: "${root}" must be an MQTT topic without wildcards, spaces or leading/trailing slash`);
  }
  return root;
}

/** An API key as `propeller apikey generate` prints it (`prop_<keyId>_<secret>`). */
const API_KEY_RE = /^prop_[A-Za-z0-9_-]{12,}_[A-Za-z0-9_-]{20,}$/;

export interface ManagerServeSettings {
  databaseUrl: string;
  mqtt: { url: string; tls?: MqttTlsFiles; protocolVersion?: 4 | 5 };
  topicRoot?: string;
  http: { host: string; port: number; tls?: { cert: Buffer; key: Buffer } };
  /** `ManagerConfigInput.auth` (manager/config.ts). */
  auth: {
    bootstrapKeys?: Array<{ name: string; key: string; scopes: Array<"read" | "submit" | "admin"> }>;
    jwt?: { issuer: string; audience: string; jwksUrl?: string };
  };
  /** Seals task secret values in the database (`ManagerConfigInput.secretsKey`). */
  secretsKey?: Buffer;
  /** `ManagerConfigInput.log` (manager/tlog/config.ts): the transparency log's key and witnesses. */
  log?: { signerKey?: string; witnesses?: string[]; checkpointEveryEntries?: number; checkpointEveryMs?: number; publicRead?: boolean };
  /** `ManagerConfigInput.ui` (manager/ui/config.ts): the dashboard, and the KBS whose audit it shows. */
  ui?: { enabled?: boolean; kbs?: { url: string; token?: string; key?: { id: string; pem?: string; jwk?: JsonWebKey } } };
}

/** The manager's settings from the environment (README, Production); throws ServiceEnvError naming every bad variable. */
export async function managerSettingsFromEnv(env: Env): Promise<ManagerServeSettings> {
  const r = new EnvReader(env);
  const databaseUrl = r.require("PROPELLER_DATABASE_URL", "postgres://user@host/db");
  if (databaseUrl !== undefined && !/^(postgres(ql)?:\/\/.+|pglite:\/\/.+)$/.test(databaseUrl)) {
    r.problems.push("PROPELLER_DATABASE_URL: must be postgres://… (or pglite://<dir>)");
  }
  const dbPassword = await r.file("PROPELLER_DATABASE_PASSWORD_FILE");
  const mqtt = await readMqtt(r);
  const topicRoot = readTopicRoot(r);
  const host = r.get("PROPELLER_HTTP_HOST") ?? "127.0.0.1";
  const port = r.port("PROPELLER_HTTP_PORT", 7070);
  const tlsCert = await r.file("PROPELLER_HTTP_TLS_CERT_FILE");
  const tlsKey = await r.file("PROPELLER_HTTP_TLS_KEY_FILE");
  if ((r.get("PROPELLER_HTTP_TLS_CERT_FILE") === undefined) !== (r.get("PROPELLER_HTTP_TLS_KEY_FILE") === undefined)) {
    r.problems.push("PROPELLER_HTTP_TLS_CERT_FILE and PROPELLER_HTTP_TLS_KEY_FILE go together (HTTPS certificate chain and key)");
  }

  const auth: ManagerServeSettings["auth"] = {};
  const keyFile = await r.file("PROPELLER_BOOTSTRAP_API_KEY_FILE");
  if (keyFile) {
    const key = keyFile.toString("utf8").trim();
    // Never echo the key, not even in part.
    if (!API_KEY_RE.test(key)) r.problems.push(`PROPELLER_BOOTSTRAP_API_KEY_FILE: ${r.get("PROPELLER_BOOTSTRAP_API_KEY_FILE")} does not hold one API key as \`propeller apikey generate\` prints it`);
    else auth.bootstrapKeys = [{ name: "bootstrap", key, scopes: ["admin"] }];
  }
  const issuer = r.get("PROPELLER_JWT_ISSUER");
  const audience = r.get("PROPELLER_JWT_AUDIENCE");
  const jwksUrl = r.url("PROPELLER_JWT_JWKS_URL", /^https?:\/\/[^\s]+$/, "an http(s):// URL of the issuer's JWKS");
  if (issuer !== undefined || audience !== undefined || r.get("PROPELLER_JWT_JWKS_URL") !== undefined) {
    if (issuer === undefined) r.problems.push("PROPELLER_JWT_ISSUER is required when JWTs are configured (PROPELLER_JWT_AUDIENCE / _JWKS_URL set)");
    if (audience === undefined) r.problems.push("PROPELLER_JWT_AUDIENCE is required when JWTs are configured");
    if (r.get("PROPELLER_JWT_JWKS_URL") === undefined) r.problems.push("PROPELLER_JWT_JWKS_URL is required when JWTs are configured (the issuer's public keys)");
    if (issuer !== undefined && audience !== undefined && jwksUrl !== undefined) auth.jwt = { issuer, audience, jwksUrl };
  }
  // The key that seals task secrets in the database: 32 random bytes, base64, in a file (never in the database).
  const secretsFile = await r.file("PROPELLER_SECRETS_KEY_FILE");
  let secretsKey: Buffer | undefined;
  if (secretsFile) {
    const text = secretsFile.toString("utf8").trim();
    if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) r.problems.push(`PROPELLER_SECRETS_KEY_FILE: ${r.get("PROPELLER_SECRETS_KEY_FILE")} does not hold 32 bytes of base64 (create it with \`openssl rand -base64 32\`)`);
    else secretsKey = Buffer.from(text, "base64");
  }
  if (!auth.bootstrapKeys && !auth.jwt) {
    r.problems.push("no credential can reach the manager's API: set PROPELLER_BOOTSTRAP_API_KEY_FILE (a key from `propeller apikey generate`) and/or PROPELLER_JWT_ISSUER, _AUDIENCE, _JWKS_URL");
  }
  // The log's signer key from a file (never echoed; the manager checks its shape); witnesses'
  // verifier keys, comma-separated (public keys, so a variable is fine).
  const log: NonNullable<ManagerServeSettings["log"]> = {};
  const tlogKey = await r.file("PROPELLER_TLOG_SIGNER_KEY_FILE");
  if (tlogKey) log.signerKey = tlogKey.toString("utf8").trim();
  const witnesses = r.get("PROPELLER_TLOG_WITNESSES");
  if (witnesses !== undefined && witnesses.trim() !== "") log.witnesses = witnesses.split(",").map((w) => w.trim()).filter((w) => w !== "");
  // The checkpoint cadence: one is issued once this many entries wait, or the oldest has waited this
  // long (the manager checks the ranges: log.checkpointEveryEntries 1..1000000, log.checkpointEveryMs 10..86400000).
  const everyEntries = r.get("PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES");
  if (everyEntries !== undefined) {
    if (/^[1-9][0-9]{0,8}$/.test(everyEntries)) log.checkpointEveryEntries = Number(everyEntries);
    else r.problems.push(`PROPELLER_TLOG_CHECKPOINT_EVERY_ENTRIES: "${everyEntries}" is not a positive integer`);
  }
  const everyMs = r.get("PROPELLER_TLOG_CHECKPOINT_EVERY_MS");
  if (everyMs !== undefined) {
    if (/^[1-9][0-9]{0,8}$/.test(everyMs)) log.checkpointEveryMs = Number(everyMs);
    else r.problems.push(`PROPELLER_TLOG_CHECKPOINT_EVERY_MS: "${everyMs}" is not a positive integer (milliseconds)`);
  }
  const publicRead = r.get("PROPELLER_TLOG_PUBLIC_READ");
  if (publicRead !== undefined) {
    if (publicRead === "on" || publicRead === "off") log.publicRead = publicRead === "on";
    else r.problems.push(`PROPELLER_TLOG_PUBLIC_READ: "${publicRead}" is not on or off`);
  }
  const ui = await readUi(r);
  r.done();
  return {
    databaseUrl: dbPassword ? withPassword(databaseUrl!, dbPassword) : databaseUrl!,
    mqtt,
    ...(topicRoot !== undefined ? { topicRoot } : {}),
    http: { host, port, ...(tlsCert && tlsKey ? { tls: { cert: tlsCert, key: tlsKey } } : {}) },
    auth,
    ...(secretsKey ? { secretsKey } : {}),
    ...(Object.keys(log).length > 0 ? { log } : {}),
    ...(ui ? { ui } : {}),
  };
}

/**
 * The dashboard: PROPELLER_UI=off turns it off; PROPELLER_UI_KBS_URL with an admin key file (PEM
 * or JWK, and PROPELLER_UI_KBS_ADMIN_KEY_ID, its id in the KBS config; best a key with only the
 * reader role) or a token file shows that KBS's audit log.
 */
async function readUi(r: EnvReader): Promise<ManagerServeSettings["ui"]> {
  const flag = r.get("PROPELLER_UI");
  if (flag !== undefined && !["on", "off"].includes(flag)) r.problems.push(`PROPELLER_UI: "${flag}" is not on or off`);
  const url = r.url("PROPELLER_UI_KBS_URL", /^https?:\/\/[^\s]+$/, "an http(s):// URL of the KBS");
  const keyFile = await r.file("PROPELLER_UI_KBS_ADMIN_KEY_FILE");
  const keyId = r.get("PROPELLER_UI_KBS_ADMIN_KEY_ID");
  const tokenFile = await r.file("PROPELLER_UI_KBS_ADMIN_TOKEN_FILE");
  let kbs: NonNullable<ManagerServeSettings["ui"]>["kbs"];
  if (url !== undefined) {
    if (keyFile) {
      const text = keyFile.toString("utf8").trim();
      let jwk: (JsonWebKey & { kid?: string }) | undefined;
      if (text.startsWith("{")) {
        try {
          jwk = JSON.parse(text) as JsonWebKey & { kid?: string };
        } catch {
          r.problems.push(`PROPELLER_UI_KBS_ADMIN_KEY_FILE: ${r.get("PROPELLER_UI_KBS_ADMIN_KEY_FILE")} is neither a PEM key nor JSON (a JWK)`);
        }
      }
      const id = keyId ?? jwk?.kid;
      if (!id) r.problems.push("PROPELLER_UI_KBS_ADMIN_KEY_ID is required with an admin key file (the key's id in the KBS config) unless the JWK has a kid");
      else kbs = { url, key: { id, ...(jwk ? { jwk } : { pem: text }) } };
    } else if (tokenFile) kbs = { url, token: tokenFile.toString("utf8").trim() };
    else r.problems.push("PROPELLER_UI_KBS_URL needs PROPELLER_UI_KBS_ADMIN_KEY_FILE (an admin key; best one with only the reader role) or PROPELLER_UI_KBS_ADMIN_TOKEN_FILE");
  } else if (keyFile || tokenFile) r.problems.push("PROPELLER_UI_KBS_ADMIN_KEY_FILE / _TOKEN_FILE need PROPELLER_UI_KBS_URL");
  if (flag === undefined && !kbs) return undefined;
  return { ...(flag !== undefined ? { enabled: flag === "on" } : {}), ...(kbs ? { kbs } : {}) };
}

export interface PropletServeSettings {
  id: string;
  mqtt: { url: string; tls?: MqttTlsFiles; protocolVersion?: 4 | 5 };
  topicRoot?: string;
  tee?: Record<string, unknown>;
  tags?: string[];
  workDir?: string;
  healthFile?: string;
  /** GET /metrics on its own port: PROPELLER_METRICS_PORT (unset: off), _HOST, _TOKEN_FILE. */
  metrics?: { port: number; host?: string; token?: string };
}

/**
 * The proplet's settings from the environment. Its id IS its certificate's identity: the CN of
 * PROPELLER_MQTT_CERT_FILE. PROPELLER_PROPLET_ID may say it again (it must match) or stand alone
 * when there is no client certificate (plain MQTT in development, broker credentials).
 */
export async function propletSettingsFromEnv(env: Env): Promise<PropletServeSettings> {
  const r = new EnvReader(env);
  const mqtt = await readMqtt(r);
  const topicRoot = readTopicRoot(r);
  const configuredId = r.get("PROPELLER_PROPLET_ID");
  let id = configuredId;
  if (mqtt.tls?.cert) {
    let cn: string | undefined;
    let kind: string | null = null;
    try {
      const identity = readIdentity(mqtt.tls.cert.toString("utf8"));
      cn = identity.commonName;
      kind = identity.kind;
    } catch {
      r.problems.push(`PROPELLER_MQTT_CERT_FILE: ${r.get("PROPELLER_MQTT_CERT_FILE")} is not a PEM certificate`);
    }
    if (cn !== undefined) {
      if (kind !== null && kind !== "proplet") {
        r.problems.push(`PROPELLER_MQTT_CERT_FILE: the certificate is a ${kind} certificate (CN=${cn}), not a proplet's; issue one with \`propeller certs issue proplet <id>\``);
      } else if (configuredId !== undefined && configuredId !== cn) {
        r.problems.push(
          `PROPELLER_PROPLET_ID: "${configuredId}" does not match the client certificate's identity CN=${cn} (PROPELLER_MQTT_CERT_FILE); a proplet is who its certificate says: unset PROPELLER_PROPLET_ID or use the certificate issued for "${configuredId}"`,
        );
      } else id = cn;
    }
  }
  if (id === undefined && !mqtt.tls?.cert) r.problems.push("PROPELLER_PROPLET_ID is required when there is no client certificate (PROPELLER_MQTT_CERT_FILE)");
  if (id !== undefined && !isValidPropletId(id)) r.problems.push(`the proplet id "${id}" is not valid: letters, digits, ".", "_", "-" (not first), at most 128`);

  let tee: Record<string, unknown> | undefined;
  const teeText = r.get("PROPELLER_TEE");
  if (teeText !== undefined) {
    try {
      const parsed: unknown = JSON.parse(teeText);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not an object");
      tee = parsed as Record<string, unknown>;
    } catch {
      r.problems.push(`PROPELLER_TEE: must be a JSON object such as {"type":"tpm","tcti":"device:/dev/tpmrm0"} or {"type":"sample"} (development only)`);
    }
  }
  const tagsText = r.get("PROPELLER_PROPLET_TAGS");
  const tags = tagsText?.split(",").map((t) => t.trim()).filter(Boolean);
  if (tags?.some((t) => t.length > 64)) r.problems.push("PROPELLER_PROPLET_TAGS: each tag has at most 64 characters");
  const workDir = r.get("PROPELLER_WORK_DIR");
  const healthFile = r.get("PROPELLER_HEALTH_FILE");
  const metricsHost = r.get("PROPELLER_METRICS_HOST");
  const metricsToken = (await r.file("PROPELLER_METRICS_TOKEN_FILE"))?.toString("utf8").trim();
  const metrics =
    r.get("PROPELLER_METRICS_PORT") === undefined
      ? undefined
      : { port: r.port("PROPELLER_METRICS_PORT", 0), ...(metricsHost ? { host: metricsHost } : {}), ...(metricsToken ? { token: metricsToken } : {}) };
  if (metrics === undefined && (metricsHost || metricsToken)) r.problems.push("PROPELLER_METRICS_HOST / PROPELLER_METRICS_TOKEN_FILE: set PROPELLER_METRICS_PORT too (metrics are off without it)");
  r.done();
  return {
    id: id!,
    mqtt,
    ...(topicRoot !== undefined ? { topicRoot } : {}),
    ...(tee ? { tee } : {}),
    ...(tags && tags.length > 0 ? { tags } : {}),
    ...(workDir ? { workDir } : {}),
    ...(healthFile ? { healthFile } : {}),
    ...(metrics ? { metrics } : {}),
  };
}

/** The database password goes into the URL handed to the driver, never into a log or an error. */
function withPassword(url: string, password: Buffer): string {
  const u = new URL(url);
  u.password = encodeURIComponent(password.toString("utf8").replace(/\r?\n$/, ""));
  return u.toString();
}

/** What `propeller kbs serve` reads beyond kbsConfigFromEnv: HTTPS files and the database password file. */
export async function kbsServeExtrasFromEnv(env: Env): Promise<{ tls?: { certFile: string; keyFile: string }; databaseUrl?: string }> {
  const r = new EnvReader(env);
  const certFile = r.get("PROPELLER_KBS_TLS_CERT_FILE");
  const keyFile = r.get("PROPELLER_KBS_TLS_KEY_FILE");
  if ((certFile === undefined) !== (keyFile === undefined)) r.problems.push("PROPELLER_KBS_TLS_CERT_FILE and PROPELLER_KBS_TLS_KEY_FILE go together (HTTPS certificate chain and key)");
  const password = await r.file("PROPELLER_KBS_DATABASE_PASSWORD_FILE");
  const url = r.get("PROPELLER_KBS_DATABASE_URL");
  if (password && url === undefined) r.problems.push("PROPELLER_KBS_DATABASE_PASSWORD_FILE is set but PROPELLER_KBS_DATABASE_URL is not");
  let databaseUrl: string | undefined;
  if (password && url !== undefined) {
    try {
      databaseUrl = withPassword(url, password);
    } catch {
      r.problems.push("PROPELLER_KBS_DATABASE_URL: not a URL");
    }
  }
  r.done();
  return { ...(certFile && keyFile ? { tls: { certFile, keyFile } } : {}), ...(databaseUrl ? { databaseUrl } : {}) };
}
