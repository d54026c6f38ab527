import { describe, expect, it } from "vitest";
import { PROPLET_PUBLISHES, PROPLET_SUBSCRIBES, Topics } from "../../../protocol/topics.js";
import { createAcl, type BrokerIdentity } from "../acl.js";
import { BrokerConfigError } from "../mosquitto-config.js";
import { NATS_QOS1_DELIVERY_SUBJECTS, natsConfig, natsSubjectForTopic, natsUsers } from "../nats-config.js";

const root = "test-nats/propeller/v1";
const topics = new Topics(root);
const acl = createAcl(root);

/** NATS subject matching (`*` one token, `>` the rest), to compare the generated rules with acl.ts. */
function subjectMatches(rule: string, subject: string): boolean {
  const r = rule.split(".");
  const s = subject.split(".");
  for (let i = 0; i < r.length; i++) {
    if (r[i] === ">") return s.length > i;
    if (s[i] === undefined || (r[i] !== "*" && r[i] !== s[i])) return false;
  }
  return r.length === s.length;
}

describe("NATS configuration generated from acl.ts", () => {
  const users = natsUsers({ proplets: ["p1", "p2"], topicRoot: root });
  const byName = new Map(users.map((u) => [u.user, u]));
  const who: Array<[string, BrokerIdentity]> = [
    ["CN=manager,OU=manager-client,O=Propeller", { kind: "manager" }],
    ["CN=p1,OU=proplet,O=Propeller", { kind: "proplet", id: "p1" }],
    ["CN=p2,OU=proplet,O=Propeller", { kind: "proplet", id: "p2" }],
  ];

  it("maps MQTT topics to subjects: / to ., + to *, # to >", () => {
    expect(natsSubjectForTopic("a/b/c")).toBe("a.b.c");
    expect(natsSubjectForTopic("a/+/c/#")).toBe("a.*.c.>");
  });

  it("refuses topics the mapping would escape or change", () => {
    for (const bad of ["a.b/c", "a//b", "/a", "a b", "a/b*", "a/>"]) expect(() => natsSubjectForTopic(bad), bad).toThrow(BrokerConfigError);
    expect(() => natsUsers({ proplets: ["p.1"], topicRoot: root })).toThrow(/cannot be written as a NATS subject/);
    expect(() => natsUsers({ proplets: ["manager"] })).toThrow(/not a proplet id/);
    expect(() => natsUsers({ proplets: ["a/b"] })).toThrow(/not a proplet id/);
    expect(() => natsUsers({ proplets: ["p1", "p1"] })).toThrow(/twice/);
  });

  it("grants every identity exactly what acl.ts grants, on every proplet topic", () => {
    const concrete = [...PROPLET_PUBLISHES, ...PROPLET_SUBSCRIBES].flatMap((name) => ["p1", "p2", "p3"].map((id) => topics.proplet(id, name)));
    for (const [user, identity] of who) {
      const u = byName.get(user)!;
      for (const topic of [...concrete, topics.managerOnline]) {
        const subject = natsSubjectForTopic(topic);
        expect(u.publish.some((r) => subjectMatches(r, subject)), `${user} publish ${topic}`).toBe(acl.canPublish(identity, topic));
        expect(u.subscribe.some((r) => subjectMatches(r, subject)), `${user} subscribe ${topic}`).toBe(acl.canRead(identity, topic));
      }
      // The gateway's QoS 1 delivery subjects, which MQTT clients cannot subscribe to themselves.
      expect(u.subscribe).toContain(NATS_QOS1_DELIVERY_SUBJECTS);
    }
    // A proplet gets no wildcard of the topic tree.
    for (const u of users.slice(1)) expect([...u.publish, ...u.subscribe.filter((s) => s !== NATS_QOS1_DELIVERY_SUBJECTS)].join(" ")).not.toMatch(/[*>]/);
  });

  it("writes mTLS (verify_and_map) on both listeners and one user per identity", () => {
    const conf = natsConfig({ proplets: ["p1"], topicRoot: root, mqttPort: 8883, clientPort: 4222, caFile: "/c/ca.pem", certFile: "/c/broker-chain.pem", keyFile: "/c/broker.key", storeDir: "/d/js", serverName: "n1" });
    expect(conf.match(/verify_and_map: true/g)).toHaveLength(2);
    expect(conf).toContain('listen: "127.0.0.1:8883"');
    expect(conf).toContain('user: "CN=p1,OU=proplet,O=Propeller"');
    expect(conf).toContain('"test-nats.propeller.v1.proplets.p1.tasks.start"');
    expect(conf.match(/user: /g)).toHaveLength(2);
    expect(() => natsConfig({ proplets: [], mqttPort: 0, clientPort: 4222, caFile: "a", certFile: "b", keyFile: "c", storeDir: "d", serverName: "n" })).toThrow(/port/);
    expect(() => natsConfig({ proplets: [], mqttPort: 1, clientPort: 4222, caFile: "a", certFile: "b", keyFile: "c", storeDir: "d", serverName: "n x" })).toThrow(/server name/);
  });
});
