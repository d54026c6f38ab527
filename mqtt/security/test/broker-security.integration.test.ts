import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Topics } from "../../../protocol/topics.js";
import { startEmbeddedBroker } from "../../broker.js";
import { credentialsFrom, hashPassword } from "../credentials.js";
import { writeMosquittoConfig } from "../mosquitto-config.js";
import { secureEmbeddedBrokerOptions } from "../tls.js";
import { freePort, uniqueTopicRoot, waitFor } from "../../../testing/net.js";
import { createTestPki, startMosquittoWithConfig, type TestPki, type TlsIdentityFiles } from "../../../testing/tls.js";

const silent = pino({ level: "silent" });
/** How long we keep watching for a message that must NOT arrive, after a legitimate marker did. */
const SETTLE_MS = 400;

interface BrokerUnderTest {
  url: string;
  close(): Promise<void>;
}

type BrokerKind = "aedes" | "mosquitto";

async function startBroker(kind: BrokerKind, pki: TestPki, root: string, extra: { credentials?: Map<string, string> } = {}): Promise<BrokerUnderTest> {
  if (kind === "aedes") {
    const { tls, hooks } = await secureEmbeddedBrokerOptions(pki.dir, { topicRoot: root, logger: silent, ...(extra.credentials ? { credentials: extra.credentials } : {}) });
    const broker = await startEmbeddedBroker({ tls, hooks });
    return { url: broker.url, close: () => broker.close() };
  }
  const port = await freePort();
  const out = await mkdtemp(join(tmpdir(), "propeller-mosq-conf-"));
  const { configPath } = await writeMosquittoConfig({
    certsDir: pki.dir,
    outDir: out,
    port,
    topicRoot: root,
    // As root Mosquitto drops to user "mosquitto", which cannot read this test's 0700 temp dirs.
    ...(process.getuid?.() === 0 ? { user: "root" } : {}),
  });
  const mosquitto = await startMosquittoWithConfig(configPath, port);
  return {
    url: `mqtts://127.0.0.1:${port}`,
    async close() {
      await mosquitto.stop();
      await rm(out, { recursive: true, force: true });
    },
  };
}

interface Peer {
  client: MqttClient;
  received: Array<{ topic: string; payload: string }>;
  closed: boolean;
}

type ConnectResult = { ok: true; peer: Peer } | { ok: false; reason: string };

/** Connects once (no reconnects); resolves with the peer or why the broker would not have it. */
function connectAs(url: string, ca: Buffer, identity: TlsIdentityFiles | null, clientId: string, more: Partial<IClientOptions> = {}): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, {
      clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 4000,
      clean: true,
      ca,
      rejectUnauthorized: true,
      ...(identity ? { cert: identity.cert, key: identity.key } : {}),
      ...more,
    });
    const peer: Peer = { client, received: [], closed: false };
    client.on("message", (topic, payload) => void peer.received.push({ topic, payload: payload.toString() }));
    client.on("close", () => (peer.closed = true));
    const timer = setTimeout(() => finish({ ok: false, reason: "timeout" }), 6000);
    let done = false;
    function finish(result: ConnectResult) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!result.ok) client.end(true);
      resolve(result);
    }
    client.once("connect", () => finish({ ok: true, peer }));
    client.once("error", (err) => finish({ ok: false, reason: err.message }));
    client.once("close", () => finish({ ok: false, reason: "closed" }));
  });
}

async function mustConnect(url: string, ca: Buffer, identity: TlsIdentityFiles | null, clientId: string, more: Partial<IClientOptions> = {}): Promise<Peer> {
  const result = await connectAs(url, ca, identity, clientId, more);
  if (!result.ok) throw new Error(`${clientId} could not connect: ${result.reason}`);
  return result.peer;
}

/** Subscribes and returns the granted QoS per filter (128 = refused). */
async function subscribe(peer: Peer, filters: string[]): Promise<number[]> {
  try {
    const granted = await peer.client.subscribeAsync(Object.fromEntries(filters.map((f) => [f, { qos: 1 as const }])));
    return granted.map((g) => g.qos);
  } catch (err) {
    // mqtt.js rejects when any filter was refused; the SUBACK it got says which.
    const granted = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet?.granted;
    if (!granted) throw err;
    return granted.map((g) => (typeof g === "number" ? g : g.qos));
  }
}

/**
 * Publishes QoS 1 and waits for PUBACK, the connection closing (aedes ends a client whose publish
 * it refuses) or 2 s. Mosquitto acknowledges a refused publish and drops it silently, so the
 * outcome here proves nothing: the tests look at what subscribers receive.
 */
async function attemptPublish(peer: Peer, topic: string, payload: string): Promise<void> {
  if (peer.closed) return;
  await Promise.race([
    peer.client.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined),
    new Promise<void>((r) => peer.client.once("close", () => r())),
    new Promise((r) => setTimeout(r, 2000)),
  ]);
}

const closeAll = async (peers: Array<Peer | undefined>) => {
  for (const p of peers) if (p && !p.closed) await p.client.endAsync(true).catch(() => undefined);
};

describe.each<BrokerKind>(["aedes", "mosquitto"])("%s with Propeller's broker security", (kind) => {
  let pki: TestPki;
  let broker: BrokerUnderTest;
  let root: string;
  let topics: Topics;
  let manager: Peer;
  let p1: Peer;
  const rogues: Peer[] = [];

  beforeAll(async () => {
    pki = await createTestPki({ proplets: ["p1", "p2", "p3"], operators: ["alice"], revoked: ["p-lost"] });
    root = uniqueTopicRoot();
    topics = new Topics(root);
    broker = await startBroker(kind, pki, root);
    manager = await mustConnect(broker.url, pki.ca, await pki.identity("manager-client"), "manager");
    const grantedManager = await subscribe(manager, ["announce", "heartbeat", "status", "tasks/accepted", "tasks/result", "tasks/log"].map((n) => `${root}/proplets/+/${n}`));
    expect(grantedManager).toEqual([1, 1, 1, 1, 1, 1]);
    p1 = await mustConnect(broker.url, pki.ca, await pki.identity("p1"), "p1");
    const grantedP1 = await subscribe(p1, [topics.proplet("p1", "tasks/start"), topics.proplet("p1", "control"), topics.managerOnline]);
    expect(grantedP1).toEqual([1, 1, 1]);
  });

  afterAll(async () => {
    await closeAll([manager, p1, ...rogues]);
    await broker?.close();
    await pki?.dispose();
  });

  /** A rogue connection with p2's own, valid certificate. */
  async function asP2(): Promise<Peer> {
    const peer = await mustConnect(broker.url, pki.ca, await pki.identity("p2"), "p2");
    rogues.push(peer);
    return peer;
  }

  /** Waits for a legitimate marker, then a little longer, and returns what `peer` got on `topic`. */
  async function settle(observer: Peer, marker: string): Promise<void> {
    await waitFor(() => observer.received.some((m) => m.payload === marker), 10_000, `marker ${marker}`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
  }

  it("a proplet with its own certificate announces, and receives the tasks the manager sends it", async () => {
    await p1.client.publishAsync(topics.proplet("p1", "announce"), "legit-announce", { qos: 1 });
    await waitFor(() => manager.received.some((m) => m.topic === topics.proplet("p1", "announce") && m.payload === "legit-announce"), 10_000, "announce at the manager");
    await manager.client.publishAsync(topics.proplet("p1", "tasks/start"), "legit-start", { qos: 1 });
    await waitFor(() => p1.received.some((m) => m.topic === topics.proplet("p1", "tasks/start") && m.payload === "legit-start"), 10_000, "task at p1");
    await manager.client.publishAsync(topics.managerOnline, "legit-online", { qos: 1 });
    await waitFor(() => p1.received.some((m) => m.payload === "legit-online"), 10_000, "manager.online at p1");
  });

  it("p2's valid certificate cannot publish results or heartbeats on p1's topics", async () => {
    for (const name of ["tasks/result", "heartbeat", "announce", "status"] as const) {
      const rogue = await asP2();
      await attemptPublish(rogue, topics.proplet("p1", name), `rogue-${name}`);
    }
    await p1.client.publishAsync(topics.proplet("p1", "tasks/result"), "marker-result", { qos: 1 });
    await settle(manager, "marker-result");
    expect(manager.received.filter((m) => m.payload.startsWith("rogue-"))).toEqual([]);
    // The same client may publish on its own topics (the policy confines, it does not just refuse).
    const p2 = await asP2();
    await p2.client.publishAsync(topics.proplet("p2", "heartbeat"), "p2-own-heartbeat", { qos: 1 });
    await waitFor(() => manager.received.some((m) => m.topic === topics.proplet("p2", "heartbeat") && m.payload === "p2-own-heartbeat"), 10_000, "p2's own heartbeat");
  });

  it("p2 cannot subscribe to p1's tasks (SUBACK 0x80) nor to # or a wildcard, and receives none of them", async () => {
    const rogue = await asP2();
    const granted = await subscribe(rogue, [topics.proplet("p1", "tasks/start"), "#", `${root}/#`, `${root}/proplets/+/tasks/start`, `${root}/proplets/p2/+`]);
    if (kind === "aedes") {
      expect(granted).toEqual([128, 128, 128, 128, 128]);
    } else {
      // Mosquitto 2.0.11's acl_file does not check SUBSCRIBE (it grants, then filters every
      // delivery by the read rules): what matters is that nothing arrives, checked below.
      expect(granted.every((q) => q === 1 || q === 128)).toBe(true);
    }
    await manager.client.publishAsync(topics.proplet("p1", "tasks/start"), "secret-task-for-p1", { qos: 1 });
    await manager.client.publishAsync(topics.proplet("p1", "control"), "secret-control-for-p1", { qos: 1 });
    await p1.client.publishAsync(topics.proplet("p1", "tasks/result"), "secret-result-of-p1", { qos: 1 });
    await settle(p1, "secret-task-for-p1");
    await settle(manager, "secret-result-of-p1");
    expect(rogue.received).toEqual([]);
  });

  it("chunked artifacts: p2 reads none of p1's chunks, cannot ask in p1's name; each uses its own topics", async () => {
    // The manager listens to every proplet's requests; p1 to its own chunks (as the real ones do).
    expect(await subscribe(manager, [`${root}/proplets/+/artifacts/request`])).toEqual([1]);
    expect(await subscribe(p1, [topics.proplet("p1", "artifacts/chunk")])).toEqual([1]);
    const rogue = await asP2();
    const granted = await subscribe(rogue, [topics.proplet("p1", "artifacts/chunk"), `${root}/proplets/+/artifacts/chunk`]);
    expect(granted.every((q) => q === 1 || q === 128)).toBe(true); // see the note on Mosquitto's SUBSCRIBE above
    if (kind === "aedes") expect(granted).toEqual([128, 128]);
    await manager.client.publishAsync(topics.proplet("p1", "artifacts/chunk"), "secret-chunk-for-p1", { qos: 1 });
    await settle(p1, "secret-chunk-for-p1");
    expect(rogue.received).toEqual([]);

    const forger = await asP2();
    await attemptPublish(forger, topics.proplet("p1", "artifacts/request"), "forged:request-as-p1");
    await attemptPublish(forger, topics.proplet("p1", "artifacts/chunk"), "forged:chunk-to-p1");
    const own = await asP2();
    await own.client.publishAsync(topics.proplet("p2", "artifacts/request"), "p2-own-request", { qos: 1 });
    await settle(manager, "p2-own-request");
    expect(manager.received.filter((m) => m.payload.startsWith("forged:"))).toEqual([]);
    expect(p1.received.filter((m) => m.payload.startsWith("forged:"))).toEqual([]);
  });

  it("p2 cannot publish task.start to any proplet (itself included) nor manager.online", async () => {
    const p2own = await asP2();
    expect(await subscribe(p2own, [topics.proplet("p2", "tasks/start")])).toEqual([1]);
    for (const topic of [topics.proplet("p1", "tasks/start"), topics.proplet("p2", "tasks/start"), topics.proplet("p1", "control"), topics.managerOnline]) {
      const rogue = await asP2();
      await attemptPublish(rogue, topic, `forged:${topic}`);
    }
    await manager.client.publishAsync(topics.managerOnline, "marker-online", { qos: 1 });
    await settle(p1, "marker-online");
    expect(p1.received.filter((m) => m.payload.startsWith("forged:"))).toEqual([]);
    expect(p2own.received.filter((m) => m.payload.startsWith("forged:"))).toEqual([]);
  });

  it("clients without a certificate, with another CA's, a revoked or a server certificate cannot connect", async () => {
    const none = await connectAs(broker.url, pki.ca, null, "p1");
    expect(none.ok).toBe(false);
    const foreign = await connectAs(broker.url, pki.ca, await pki.foreign("p1"), "p1");
    expect(foreign.ok).toBe(false);
    const server = await connectAs(broker.url, pki.ca, await pki.identity("broker"), "broker");
    expect(server.ok).toBe(false);
    // A certificate our CA issued and then revoked (ca.crl) is refused by the TLS layer.
    const revoked = await connectAs(broker.url, pki.ca, await pki.identity("p-lost"), "p-lost");
    expect(revoked.ok).toBe(false);
    // Plain MQTT to a TLS listener gets nowhere either.
    const plain = await connectAs(broker.url.replace("mqtts:", "mqtt:"), pki.ca, null, "p1");
    expect(plain.ok).toBe(false);
    // p1's real session was not disturbed by any of this.
    await manager.client.publishAsync(topics.proplet("p1", "tasks/start"), "still-here", { qos: 1 });
    await waitFor(() => p1.received.some((m) => m.payload === "still-here"), 10_000, "p1 still connected");
  });

  it("an operator certificate (clientAuth, CN operator:alice) gets no proplet or manager rights", async () => {
    const result = await connectAs(broker.url, pki.ca, await pki.identity("alice"), "operator:alice");
    if (kind === "aedes") {
      // The embedded broker knows the certificate's kind and refuses it outright.
      expect(result.ok).toBe(false);
      return;
    }
    // Mosquitto sees only the CN; "operator:alice" is no proplet id and not the manager.
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    rogues.push(result.peer);
    await subscribe(result.peer, [topics.proplet("p1", "tasks/start"), `${root}/proplets/+/tasks/result`, "#"]);
    await attemptPublish(result.peer, topics.proplet("p1", "tasks/result"), "rogue-operator-result");
    await attemptPublish(result.peer, topics.proplet("p1", "tasks/start"), "forged:operator-start");
    await p1.client.publishAsync(topics.proplet("p1", "tasks/result"), "marker-op", { qos: 1 });
    await settle(manager, "marker-op");
    await manager.client.publishAsync(topics.proplet("p1", "tasks/start"), "marker-op-start", { qos: 1 });
    await settle(p1, "marker-op-start");
    expect(manager.received.filter((m) => m.payload.startsWith("rogue-"))).toEqual([]);
    expect(p1.received.filter((m) => m.payload.startsWith("forged:"))).toEqual([]);
    expect(result.peer.received).toEqual([]);
  });

  it("p2 reusing another proplet's client id neither takes its queued tasks nor knocks it off", async () => {
    // p3 keeps a persistent session, goes away, and a task is queued for it.
    const away = await mustConnect(broker.url, pki.ca, await pki.identity("p3"), "p3", { clean: false });
    expect(await subscribe(away, [topics.proplet("p3", "tasks/stop")])).toEqual([1]);
    await away.client.endAsync();
    await manager.client.publishAsync(topics.proplet("p3", "tasks/stop"), "queued-for-p3", { qos: 1 });
    // p2 claims that session, and then p1's live one. The embedded broker refuses a client id
    // that is not the certificate's; Mosquitto replaces it with the certificate's identity
    // (use_username_as_clientid), so it cannot collide with anyone else's.
    const thief = await connectAs(broker.url, pki.ca, await pki.identity("p2"), "p3", { clean: false });
    if (thief.ok) rogues.push(thief.peer);
    const kicker = await connectAs(broker.url, pki.ca, await pki.identity("p2"), "p1");
    if (kicker.ok) rogues.push(kicker.peer);
    if (kind === "aedes") expect([thief.ok, kicker.ok]).toEqual([false, false]);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    if (thief.ok) expect(thief.peer.received).toEqual([]);
    expect(p1.closed).toBe(false);
    // The real p3 comes back and gets its task: the session was never the thief's.
    const back = await mustConnect(broker.url, pki.ca, await pki.identity("p3"), "p3", { clean: false });
    rogues.push(back);
    await waitFor(() => back.received.some((m) => m.payload === "queued-for-p3"), 10_000, "queued task delivered to p3");
  });

  it("a proplet's last will reaches the manager only on its own status topic", async () => {
    const willOwn = await mustConnect(broker.url, pki.ca, await pki.identity("p2"), "p2", {
      will: { topic: topics.proplet("p2", "status"), payload: Buffer.from("will-p2-gone"), qos: 1, retain: false },
    });
    const forged = await connectAs(broker.url, pki.ca, await pki.identity("p2"), "p2:will", {
      will: { topic: topics.proplet("p1", "status"), payload: Buffer.from("rogue-will-p1-gone"), qos: 1, retain: false },
    });
    if (forged.ok) forged.peer.client.stream.destroy(); // vanish: the broker would now send the will
    willOwn.client.stream.destroy();
    await settle(manager, "will-p2-gone");
    expect(manager.received.filter((m) => m.payload.startsWith("rogue-"))).toEqual([]);
    // The embedded broker refuses the forged will at CONNECT already.
    if (kind === "aedes") expect(forged.ok).toBe(false);
  });
});

describe("embedded broker: client ids and credentials", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki({ proplets: ["p1", "p2"] });
  });
  afterAll(async () => pki?.dispose());

  it("binds the MQTT client id to the identity, so p2 cannot take over p1's session", async () => {
    const root = uniqueTopicRoot();
    const broker = await startBroker("aedes", pki, root);
    try {
      const p1 = await mustConnect(broker.url, pki.ca, await pki.identity("p1"), "p1");
      const takeover = await connectAs(broker.url, pki.ca, await pki.identity("p2"), "p1");
      expect(takeover.ok).toBe(false);
      const suffixed = await connectAs(broker.url, pki.ca, await pki.identity("p2"), "p2:worker");
      expect(suffixed.ok).toBe(true);
      // p1 was not kicked off by the attempt.
      await new Promise((r) => setTimeout(r, 200));
      expect(p1.closed).toBe(false);
      await closeAll([p1, suffixed.ok ? suffixed.peer : undefined]);
    } finally {
      await broker.close();
    }
  });

  it("the hooks refuse everyone on a listener without TLS, credentials included", async () => {
    const root = uniqueTopicRoot();
    const password = "correct horse battery staple 42";
    const { hooks } = await secureEmbeddedBrokerOptions(pki.dir, { topicRoot: root, logger: silent, credentials: credentialsFrom({ p3: await hashPassword(password) }) });
    const broker = await startEmbeddedBroker({ hooks }); // plain TCP: a wiring mistake must not open the broker
    try {
      expect((await connectAs(broker.url, pki.ca, null, "p3", { username: "p3", password })).ok).toBe(false);
      expect((await connectAs(broker.url, pki.ca, null, "manager")).ok).toBe(false);
    } finally {
      await broker.close();
    }
  });

  it("a proplet without mTLS logs in with its scrypt-hashed password and is confined like any proplet", async () => {
    const root = uniqueTopicRoot();
    const topics = new Topics(root);
    const password = "correct horse battery staple 42";
    const credentials = new Map(credentialsFrom({ p3: await hashPassword(password) }));
    const broker = await startBroker("aedes", pki, root, { credentials });
    const peers: Peer[] = [];
    try {
      const manager = await mustConnect(broker.url, pki.ca, await pki.identity("manager-client"), "manager");
      peers.push(manager);
      await subscribe(manager, [`${root}/proplets/+/announce`, `${root}/proplets/+/tasks/result`]);
      const p3 = await mustConnect(broker.url, pki.ca, null, "p3", { username: "p3", password });
      peers.push(p3);
      await p3.client.publishAsync(topics.proplet("p3", "announce"), "p3-hello", { qos: 1 });
      await waitFor(() => manager.received.some((m) => m.payload === "p3-hello"), 10_000, "p3 announce");
      expect(await subscribe(p3, [topics.proplet("p1", "tasks/start")])).toEqual([128]);
      await attemptPublish(p3, topics.proplet("p1", "tasks/result"), "rogue-p3");

      expect((await connectAs(broker.url, pki.ca, null, "p3", { username: "p3", password: "wrong password, long enough" })).ok).toBe(false);
      expect((await connectAs(broker.url, pki.ca, null, "p4", { username: "p4", password })).ok).toBe(false);
      expect((await connectAs(broker.url, pki.ca, null, "manager", { username: "manager", password })).ok).toBe(false);
      // A presented certificate must verify: a foreign one is not "fallen back" from to a password.
      expect((await connectAs(broker.url, pki.ca, await pki.foreign("p3"), "p3", { username: "p3", password })).ok).toBe(false);
      // A certificate's CN and a different username do not mix.
      expect((await connectAs(broker.url, pki.ca, await pki.identity("p1"), "p1", { username: "p3", password })).ok).toBe(false);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      expect(manager.received.filter((m) => m.payload.startsWith("rogue-"))).toEqual([]);
    } finally {
      await closeAll(peers);
      await broker.close();
    }
  });
});
