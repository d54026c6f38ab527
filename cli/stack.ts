import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { startEmbeddedBroker, type EmbeddedBroker } from "../mqtt/index.js";
import { secureEmbeddedBrokerOptions } from "../mqtt/security/index.js";
import { generateApiKey, startManager } from "../manager/index.js";
import { startProplet, type PropletTeeConfig } from "../proplet/index.js";
import { randomBytes, type JsonWebKey } from "node:crypto";
import type { JWK } from "jose";
import { messageOf } from "../lib/errors.js";

type RunningManager = Awaited<ReturnType<typeof startManager>>;
type RunningProplet = Awaited<ReturnType<typeof startProplet>>;

export interface StackOptions {
  /** How many proplets to start in this process (default 2). */
  proplets?: number;
  /** External MQTT broker; when absent an embedded aedes broker is started. */
  mqttUrl?: string;
  /** MQTT protocol of the manager's and proplets' connections to `mqttUrl` (5: trace context in user properties too; the embedded aedes takes 4 only). */
  mqttProtocolVersion?: 4 | 5;
  /** Database; default embedded PGlite in memory. */
  databaseUrl?: string;
  managerPort?: number;
  managerHost?: string;
  topicRoot?: string;
  /**
   * Start a KBS beside the manager, in DEVELOPMENT mode (it accepts the sample TEE, which proves
   * nothing). Its master key lives in memory; its admin key is returned (and written by `up`).
   */
  kbs?: boolean;
  kbsPort?: number;
  /**
   * Where the development KBS keeps what it stores (default: in memory, with a fresh master key and
   * admin key): `propeller up` passes its state directory's, so keys stored before a restart are
   * still released after it.
   */
  kbsState?: { databaseUrl: string; masterKey: string; adminKey?: JWK };
  /** The manager's key for task secrets at rest (default: one that lives only in this process). */
  secretsKey?: Buffer;
  /**
   * The TEE the proplets attest with. Default: the sample TEE when the development KBS runs
   * (development only: it proves nothing), none otherwise.
   */
  propletTee?: PropletTeeConfig | null;
  /**
   * mTLS everywhere on the embedded broker: it listens with TLS, requires a client certificate
   * from our CA and confines every client with the ACL hooks (mqtt/security); the manager connects
   * as `manager-client`, each proplet `proplet-<i>` with its own certificate. `certsDir` must hold
   * the CA, a `broker` server certificate, `manager-client` and `proplet-1…N` (as `propeller certs`
   * writes them); without it a throwaway development PKI is created (and removed at close).
   * With `mqttUrl` (an external broker configured for this PKI, e.g. from nats-config.ts) the
   * clients present the same certificates and `certsDir` is required.
   */
  mtls?: { certsDir?: string };
  /** Serve each proplet's GET /metrics on a free loopback port (RunningProplet.metricsUrl). */
  propletMetrics?: { token?: string };
  /** Each proplet's started spare workers (the proplet's default when absent; 0 for none). */
  propletSpareWorkers?: number;
  logger: Logger;
}

export interface StackKbs {
  url: string;
  /** Private admin JWK (with kid) for the KBS admin API. */
  adminKey: JWK;
}

export interface Stack {
  managerUrl: string;
  /** The bootstrap admin API key of this stack's manager (`propeller up` writes it to its state directory's manager-token). */
  managerToken: string;
  brokerUrl: string;
  databaseUrl: string;
  /** With `mtls`: the certificates directory used (CA, broker, manager-client, proplet-<i>). */
  certsDir: string | null;
  manager: RunningManager;
  proplets: RunningProplet[];
  kbs: StackKbs | null;
  close(): Promise<void>;
}

/**
 * The whole system in one process: broker (embedded unless given), database (embedded PGlite
 * unless given), manager and N proplets. Used by `propeller up`, the demo, end-to-end tests and
 * benchmarks, so they all exercise the same wiring.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.logger;
  const cleanups: Array<() => Promise<void>> = [];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((err: unknown) => log.warn({ err: messageOf(err) }, "shutdown step failed"));
    }
  };
  try {
    const propletCount = options.proplets ?? 2;
    let certsDir: string | null = null;
    if (options.mtls) {
      if (options.mqttUrl && !options.mtls.certsDir) throw new Error("startStack: mtls with an external broker (mqttUrl) needs the certsDir its configuration trusts");
      certsDir = options.mtls.certsDir ?? (await developmentPki(propletCount, cleanups));
    }
    const clientTls = certsDir ? await readClientTls(certsDir) : null;

    let broker: EmbeddedBroker | undefined;
    let brokerUrl = options.mqttUrl;
    if (!brokerUrl) {
      const secure = certsDir
        ? await secureEmbeddedBrokerOptions(certsDir, { ...(options.topicRoot ? { topicRoot: options.topicRoot } : {}), logger: log.child({ box: "broker" }) })
        : null;
      broker = await startEmbeddedBroker({ logger: log.child({ box: "broker" }), ...(secure ? { tls: secure.tls, hooks: secure.hooks } : {}) });
      brokerUrl = broker.url;
      const b = broker;
      cleanups.push(() => b.close());
    }

    let databaseUrl = options.databaseUrl;
    if (!databaseUrl) {
      const dir = await mkdtemp(join(tmpdir(), "propeller-pglite-"));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      databaseUrl = `pglite://${dir}`;
    }

    let kbs: StackKbs | null = null;
    if (options.kbs) kbs = await startDevelopmentKbs(options.kbsPort ?? 0, log, cleanups, options.kbsState);

    // A fresh admin key each start; only its hash reaches the database (a persistent data dir keeps
    // the old ones, which the operator can list and revoke).
    const managerToken = generateApiKey().key;
    const manager = await startManager({
      databaseUrl,
      auth: { bootstrapKeys: [{ name: STACK_KEY_NAME, key: managerToken, scopes: ["admin"] }] },
      mqtt: { url: brokerUrl, ...(clientTls ? { tls: await clientTls("manager-client") } : {}), ...(options.mqttProtocolVersion ? { protocolVersion: options.mqttProtocolVersion } : {}) },
      ...(options.topicRoot ? { topicRoot: options.topicRoot } : {}),
      http: { host: options.managerHost ?? "127.0.0.1", port: options.managerPort ?? 0 },
      logger: log.child({ box: "manager" }),
      ...(options.secretsKey ? { secretsKey: options.secretsKey } : {}),
      // The dashboard shows the development KBS's audit log (with the stack's own admin key).
      ...(kbs ? { ui: { kbs: { url: kbs.url, key: { id: String(kbs.adminKey.kid), jwk: kbs.adminKey as JsonWebKey } } } } : {}),
    });
    cleanups.push(() => manager.close());
    await retireOldBootstrapKeys(manager.url, managerToken, log);

    const proplets: RunningProplet[] = [];
    const tee = options.propletTee !== undefined ? options.propletTee : kbs ? ({ type: "sample" } as const) : null;
    for (let i = 1; i <= propletCount; i++) {
      const proplet = await startProplet({
        id: `proplet-${i}`,
        name: `embedded proplet ${i}`,
        mqtt: { url: brokerUrl, ...(clientTls ? { tls: await clientTls(`proplet-${i}`) } : {}), ...(options.mqttProtocolVersion ? { protocolVersion: options.mqttProtocolVersion } : {}) },
        ...(options.topicRoot ? { topicRoot: options.topicRoot } : {}),
        ...(tee ? { tee } : {}),
        ...(options.propletMetrics ? { metrics: { port: 0, ...options.propletMetrics } } : {}),
        ...(options.propletSpareWorkers !== undefined ? { spareWorkers: options.propletSpareWorkers } : {}),
        logger: log.child({ box: "proplet", proplet: `proplet-${i}` }),
      });
      proplets.push(proplet);
      cleanups.push(() => proplet.close());
    }

    return { managerUrl: manager.url, managerToken, brokerUrl, databaseUrl, certsDir, manager, proplets, kbs, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

const STACK_KEY_NAME = "stack bootstrap admin";

/**
 * On a persistent database, earlier `up`s left their bootstrap admin keys behind (their text was in a
 * token file since overwritten): revoke them, so only this start's key is a live stack credential.
 */
async function retireOldBootstrapKeys(managerUrl: string, token: string, log: Logger): Promise<void> {
  const { ManagerClient } = await import("./manager-client.js");
  const client = new ManagerClient({ baseUrl: managerUrl, token, timeoutMs: 10_000 });
  const current = token.split("_")[1];
  const { items } = await client.listApiKeys();
  for (const key of items) {
    if (key.name !== STACK_KEY_NAME || key.revokedAt !== null || key.id === current) continue;
    await client.revokeApiKey(key.id);
    log.info({ keyId: key.id }, "revoked the bootstrap admin key of an earlier start");
  }
}

/** A throwaway PKI for an mTLS stack: CA, `broker`, `manager-client`, `proplet-1…N`. */
async function developmentPki(proplets: number, cleanups: Array<() => Promise<void>>): Promise<string> {
  const { initCa, issue, writeCrl } = await import("../certs/index.js");
  const dir = await mkdtemp(join(tmpdir(), "propeller-stack-pki-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await initCa(dir, { name: "Propeller stack development CA", lifetimeDays: 31 });
  await issue(dir, "server", "broker", { lifetimeDays: 30 });
  await issue(dir, "manager-client", "manager-client", { lifetimeDays: 30 });
  for (let i = 1; i <= proplets; i++) await issue(dir, "proplet", `proplet-${i}`, { lifetimeDays: 30 });
  await writeCrl(dir);
  return dir;
}

/** Client TLS settings by certificate name: our CA as the only trust anchor, the client's certificate and key. */
async function readClientTls(certsDir: string): Promise<(name: string) => Promise<{ ca: Buffer; cert: Buffer; key: Buffer }>> {
  const ca = await readFile(join(certsDir, "ca.pem"));
  return async (name) => {
    try {
      return { ca, cert: await readFile(join(certsDir, `${name}.pem`)), key: await readFile(join(certsDir, `${name}.key`)) };
    } catch {
      throw new Error(`startStack: ${join(certsDir, `${name}.pem`)} or its key is missing: run \`propeller certs issue ${name === "manager-client" ? "manager-client" : `proplet ${name}`} --dir ${certsDir}\``);
    }
  };
}

/**
 * A KBS for the embedded stack: development mode (sample TEE accepted, said loudly), PGlite in
 * memory, a fresh master key and admin key pair. The sample TEE has no reference values, so its
 * appraisal policy does not require them; resource policies still require `affirming`.
 */
async function startDevelopmentKbs(port: number, log: Logger, cleanups: Array<() => Promise<void>>, state?: StackOptions["kbsState"]): Promise<StackKbs> {
  const kbsModule = await import("../kbs/index.js");
  const admin = state?.adminKey?.kid !== undefined
    ? { id: String(state.adminKey.kid), alg: String(state.adminKey.alg ?? "EdDSA"), privateJwk: state.adminKey, publicJwk: publicHalf(state.adminKey) }
    : await kbsModule.adminKeygen({ id: "stack-admin", alg: "EdDSA" });
  const kbs = await kbsModule.startKbs(
    {
      listen: { host: "127.0.0.1", port },
      developmentMode: true,
      masterKey: state?.masterKey ?? randomBytes(32).toString("base64"),
      ...(state ? { databaseUrl: state.databaseUrl } : {}),
      admin: { keys: [{ id: admin.id, publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] },
    },
    { logger: log.child({ box: "kbs" }) },
  );
  cleanups.push(() => kbs.close());
  log.warn({ box: "kbs", url: kbs.url }, "KBS in DEVELOPMENT MODE: it accepts the sample TEE, which proves nothing; never use it for real secrets");
  const adminKey: JWK = { ...admin.privateJwk, kid: admin.id, alg: admin.alg };

  await kbsModule.setAttestationPolicy(
    { url: kbs.url, token: () => kbsModule.mintAdminToken(adminKey, { keyId: admin.id, subject: "stack" }) },
    "sample",
    { id: "development-sample", requireReferenceValues: false },
  );
  return { url: kbs.url, adminKey };
}

/** The public members of an OKP or EC private JWK. */
function publicHalf(jwk: JWK): JWK {
  const { kty, crv, x, y } = jwk;
  return { kty, ...(crv ? { crv } : {}), ...(x ? { x } : {}), ...(y ? { y } : {}) } as JWK;
}
