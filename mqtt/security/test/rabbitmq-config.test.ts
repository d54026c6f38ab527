import { describe, expect, it } from "vitest";
import { PROPLET_PUBLISHES, PROPLET_SUBSCRIBES, Topics } from "../../../protocol/topics.js";
import { createAcl, type BrokerIdentity } from "../acl.js";
import { BrokerConfigError } from "../mosquitto-config.js";
import { rabbitConfig, rabbitDefinitions, rabbitRoutingKeyForTopic } from "../rabbitmq-config.js";

const root = "test-rabbit/propeller/v1";
const topics = new Topics(root);
const acl = createAcl(root);

describe("RabbitMQ definitions generated from acl.ts", () => {
  const defs = rabbitDefinitions({ proplets: ["p1", "p2"], topicRoot: root });
  const topic = (user: string) => defs.topic_permissions.find((p) => p.user === user)!;
  const who: Array<[string, BrokerIdentity]> = [
    ["manager", { kind: "manager" }],
    ["p1", { kind: "proplet", id: "p1" }],
    ["p2", { kind: "proplet", id: "p2" }],
  ];

  it("maps MQTT topics to routing keys and refuses what the plugin would rewrite", () => {
    expect(rabbitRoutingKeyForTopic("a/+/c/#")).toBe("a.*.c.#");
    for (const bad of ["a.b/c", "a//b", "a b", "a/b*"]) expect(() => rabbitRoutingKeyForTopic(bad), bad).toThrow(BrokerConfigError);
    expect(() => rabbitDefinitions({ proplets: ["p.1"], topicRoot: root })).toThrow(/routing-key rule/);
    expect(() => rabbitDefinitions({ proplets: ["manager"] })).toThrow(/not a proplet id/);
    expect(() => rabbitDefinitions({ proplets: ["p1", "p1"] })).toThrow(/twice/);
  });

  it("topic permissions grant every identity exactly what acl.ts grants, as the plugin checks them", () => {
    const concrete = [...PROPLET_PUBLISHES, ...PROPLET_SUBSCRIBES].flatMap((name) => ["p1", "p2", "p3"].map((id) => topics.proplet(id, name)));
    for (const [user, identity] of who) {
      const { write, read } = topic(user);
      for (const t of [...concrete, topics.managerOnline]) {
        const key = rabbitRoutingKeyForTopic(t);
        expect(new RegExp(write).test(key), `${user} write ${t}`).toBe(acl.canPublish(identity, t));
        expect(new RegExp(read).test(key), `${user} read ${t}`).toBe(acl.canRead(identity, t));
      }
      // Wildcard SUBSCRIBEs are checked as filters: only the manager's own wildcards pass.
      for (const filter of [`${root}/#`, "#", `${root}/proplets/+/tasks/start`, `${root}/proplets/+/announce`]) {
        expect(new RegExp(read).test(rabbitRoutingKeyForTopic(filter)), `${user} subscribe ${filter}`).toBe(acl.canSubscribe(identity, filter));
      }
    }
  });

  it("lets each user declare and read only its own client ids' session queues; no password logs in", () => {
    const p1 = defs.permissions.find((p) => p.user === "p1")!;
    expect(new RegExp(p1.configure).test("mqtt-subscription-p1:propletqos1")).toBe(true);
    expect(new RegExp(p1.read).test("mqtt-subscription-p2:propletqos1")).toBe(false);
    expect(new RegExp(p1.read).test("mqtt-subscription-manager:m1qos1")).toBe(false);
    expect(new RegExp(p1.write).test("amq.topic")).toBe(true);
    const m = defs.permissions.find((p) => p.user === "manager")!;
    expect(new RegExp(m.configure).test("mqtt-subscription-manager:m1qos0")).toBe(true);
    expect(new RegExp(m.configure).test("mqtt-subscription-p1:propletqos0")).toBe(false);
    expect(defs.users.map((u) => [u.name, u.password_hash])).toEqual([["manager", ""], ["p1", ""], ["p2", ""]]);
  });

  it("writes a TLS-only MQTT listener with certificate login", () => {
    const conf = rabbitConfig({ mqttPort: 8883, amqpPort: 5673, caFile: "/c/ca.pem", certFile: "/c/broker-chain.pem", keyFile: "/c/broker.key", definitionsFile: "/d/defs.json" });
    for (const line of ["mqtt.listeners.tcp = none", "mqtt.listeners.ssl.default = 127.0.0.1:8883", "ssl_options.fail_if_no_peer_cert = true", "mqtt.ssl_cert_login = true", "ssl_cert_login_from = common_name", "mqtt.allow_anonymous = false"]) {
      expect(conf).toContain(line);
    }
    expect(() => rabbitConfig({ mqttPort: 8883, amqpPort: 5673, caFile: "ca.pem", certFile: "/c", keyFile: "/c", definitionsFile: "/d" })).toThrow(/absolute path/);
  });
});
