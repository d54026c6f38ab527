import { describe, expect, it } from "vitest";
import { topicMatches } from "../../topic-filter.js";
import { Topics } from "../../../protocol/topics.js";
import { aclRules, createAcl, filterCovers, identityFromName, type BrokerIdentity } from "../acl.js";
import { mosquittoAclFile } from "../mosquitto-config.js";

const root = "test-acl/propeller/v1";
const acl = createAcl(root);
const topics = new Topics(root);

// The policy as the issue states it, written out literally: if protocol/topics.ts changes, this
// table (the specification) and the derived ACL disagree and the test says so.
const PROPLET_PUBLISHES = ["announce", "heartbeat", "status", "tasks/accepted", "tasks/result", "tasks/log", "artifacts/request", "secagg/reply"] as const;
const PROPLET_SUBSCRIBES = ["tasks/start", "tasks/stop", "tasks/result-ack", "control", "artifacts/chunk", "secagg/request"] as const;
const ALL = [...PROPLET_PUBLISHES, ...PROPLET_SUBSCRIBES];

const p1: BrokerIdentity = { kind: "proplet", id: "p1" };
const manager: BrokerIdentity = { kind: "manager" };

describe("ACL derived from protocol/topics.ts", () => {
  it("a proplet publishes only its own proplet→manager topics", () => {
    for (const owner of ["p1", "p2"]) {
      for (const name of ALL) {
        const expected = owner === "p1" && (PROPLET_PUBLISHES as readonly string[]).includes(name);
        expect(acl.canPublish(p1, topics.proplet(owner, name)), `${owner}/${name}`).toBe(expected);
      }
    }
    expect(acl.canPublish(p1, topics.managerOnline)).toBe(false);
  });

  it("a proplet subscribes only to its own manager→proplet topics and manager/online, never a wildcard", () => {
    for (const owner of ["p1", "p2"]) {
      for (const name of ALL) {
        const expected = owner === "p1" && (PROPLET_SUBSCRIBES as readonly string[]).includes(name);
        expect(acl.canSubscribe(p1, topics.proplet(owner, name)), `${owner}/${name}`).toBe(expected);
        expect(acl.canRead(p1, topics.proplet(owner, name)), `read ${owner}/${name}`).toBe(expected);
      }
    }
    expect(acl.canSubscribe(p1, topics.managerOnline)).toBe(true);
    for (const wild of ["#", `${root}/#`, `${root}/proplets/p1/#`, `${root}/proplets/p1/+`, `${root}/proplets/+/tasks/start`, `${root}/proplets/p1/tasks/+`, `${root}/+/online`]) {
      expect(acl.canSubscribe(p1, wild), wild).toBe(false);
    }
  });

  it("the manager reads every proplet's proplet→manager topics and writes every manager→proplet topic", () => {
    for (const owner of ["p1", "p2", "edge-9"]) {
      for (const name of ALL) {
        const up = (PROPLET_PUBLISHES as readonly string[]).includes(name);
        expect(acl.canPublish(manager, topics.proplet(owner, name)), `pub ${owner}/${name}`).toBe(!up);
        expect(acl.canRead(manager, topics.proplet(owner, name)), `read ${owner}/${name}`).toBe(up);
        expect(acl.canSubscribe(manager, topics.proplet(owner, name)), `sub ${owner}/${name}`).toBe(up);
      }
    }
    expect(acl.canPublish(manager, topics.managerOnline)).toBe(true);
    expect(acl.canSubscribe(manager, topics.managerOnline)).toBe(true);
    for (const name of PROPLET_PUBLISHES) expect(acl.canSubscribe(manager, topics.allProplets(name))).toBe(true);
    for (const name of PROPLET_SUBSCRIBES) expect(acl.canSubscribe(manager, topics.allProplets(name))).toBe(false);
    for (const wide of ["#", `${root}/#`, `${root}/proplets/+/+`, `${root}/proplets/+/#`, `${root}/proplets/#`, `${root}/proplets/+/tasks/#`]) {
      expect(acl.canSubscribe(manager, wide), wide).toBe(false);
    }
  });

  it("secure aggregation: a proplet answers on its own secagg/reply and hears only its own secagg/request", () => {
    const p2: BrokerIdentity = { kind: "proplet", id: "p2" };
    const reply = (id: string) => `${root}/proplets/${id}/secagg/reply`;
    const request = (id: string) => `${root}/proplets/${id}/secagg/request`;
    expect(acl.canPublish(p1, reply("p1"))).toBe(true);
    expect(acl.canPublish(p1, reply("p2"))).toBe(false); // cannot answer a step in another participant's name
    expect(acl.canPublish(p1, request("p1"))).toBe(false); // cannot play the aggregator, even to itself
    expect(acl.canPublish(p1, request("p2"))).toBe(false);
    expect(acl.canSubscribe(p1, request("p1"))).toBe(true);
    expect(acl.canSubscribe(p1, request("p2"))).toBe(false); // cannot read the shares relayed to another participant
    expect(acl.canSubscribe(p1, reply("p2"))).toBe(false); // nor another's masked input
    expect(acl.canRead(p2, request("p1"))).toBe(false);
    expect(acl.canSubscribe(p1, `${root}/proplets/+/secagg/reply`)).toBe(false);
    expect(acl.canPublish(manager, request("p2"))).toBe(true);
    expect(acl.canSubscribe(manager, topics.allProplets("secagg/reply"))).toBe(true);
    expect(acl.canPublish(manager, reply("p2"))).toBe(false);
  });

  it("chunked artifact delivery: each proplet requests and receives on its own topics only; the manager serves all", () => {
    const p2: BrokerIdentity = { kind: "proplet", id: "p2" };
    const request = (id: string) => `${root}/proplets/${id}/artifacts/request`;
    const chunk = (id: string) => `${root}/proplets/${id}/artifacts/chunk`;
    expect(acl.canPublish(p1, request("p1"))).toBe(true);
    expect(acl.canPublish(p1, request("p2"))).toBe(false); // cannot ask in another proplet's name
    expect(acl.canSubscribe(p1, chunk("p1"))).toBe(true);
    expect(acl.canSubscribe(p1, chunk("p2"))).toBe(false); // cannot listen to another proplet's chunks
    expect(acl.canRead(p2, chunk("p1"))).toBe(false);
    expect(acl.canPublish(p1, chunk("p1"))).toBe(false); // cannot forge chunks, even to itself
    expect(acl.canSubscribe(p1, request("p1"))).toBe(false);
    expect(acl.canSubscribe(p1, `${root}/proplets/+/artifacts/chunk`)).toBe(false);
    expect(acl.canSubscribe(p1, `${root}/proplets/p1/artifacts/#`)).toBe(false);
    expect(acl.canSubscribe(manager, `${root}/proplets/+/artifacts/request`)).toBe(true);
    expect(acl.canPublish(manager, chunk("edge-9"))).toBe(true);
    expect(acl.canSubscribe(manager, `${root}/proplets/+/artifacts/chunk`)).toBe(false);
    expect(mosquittoAclFile(root)).toContain(`pattern write ${root}/proplets/%u/artifacts/request`);
    expect(mosquittoAclFile(root)).toContain(`pattern read ${root}/proplets/%u/artifacts/chunk`);
  });

  it("nobody else, and nothing outside the root or under $SYS", () => {
    for (const name of ALL) {
      expect(acl.canPublish(null, topics.proplet("p1", name))).toBe(false);
      expect(acl.canSubscribe(null, topics.proplet("p1", name))).toBe(false);
    }
    expect(acl.canSubscribe(null, topics.managerOnline)).toBe(false);
    expect(acl.canPublish(manager, "$SYS/broker/x")).toBe(false);
    expect(acl.canSubscribe(manager, "$SYS/#")).toBe(false);
    expect(acl.canPublish(p1, "other-root/proplets/p1/announce")).toBe(false);
    expect(acl.canPublish(p1, `${root}/proplets/p1/announce/extra`)).toBe(false);
    expect(acl.canPublish(manager, `${root}/proplets/+/tasks/start`)).toBe(false); // no wildcard publishes
  });

  it("a proplet's will may only be its own status; the manager's only a topic it may publish", () => {
    expect(acl.canWill(p1, topics.proplet("p1", "status"))).toBe(true);
    expect(acl.canWill(p1, topics.proplet("p1", "heartbeat"))).toBe(false);
    expect(acl.canWill(p1, topics.proplet("p2", "status"))).toBe(false);
    expect(acl.canWill(p1, topics.managerOnline)).toBe(false);
    expect(acl.canWill(manager, topics.managerOnline)).toBe(true);
    expect(acl.canWill(manager, topics.proplet("p1", "status"))).toBe(false);
    expect(acl.canWill(null, topics.proplet("p1", "status"))).toBe(false);
  });

  it("identities come from names: proplet ids, the manager; operators and oddities are nobody", () => {
    expect(identityFromName("p1")).toEqual(p1);
    expect(identityFromName("manager")).toEqual(manager);
    for (const name of ["operator:alice", "", "a/b", "+", "#", "p1 ", "-x", "x".repeat(129)]) expect(identityFromName(name), name).toBeNull();
  });

  it("refuses a topic root with wildcards", () => {
    expect(() => createAcl("a/+/b")).toThrow();
    expect(() => createAcl("a/#")).toThrow();
  });

  it.each([
    ["a/+/c", "a/+/c", true],
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a/+/+", false],
    ["a/+/c", "a/#", false],
    ["a/+/c", "a/b/c/d", false],
    ["a/+/c", "a/b", false],
    ["a/#", "a/b/#", true],
    ["a/b", "a/+", false],
  ])("filterCovers(%s, %s) = %s", (rule, filter, expected) => {
    expect(filterCovers(rule, filter)).toBe(expected);
  });
});

/**
 * Mosquitto's default ACL semantics for an acl_file (user `topic` rules, then `pattern` rules with
 * %u = the username, patterns denied to usernames containing + or #), written from its
 * documentation to check that the generated file grants exactly what acl.ts grants.
 */
function mosquittoDecides(file: string, username: string, topic: string, access: "read" | "write"): boolean {
  let user: string | null = null;
  const userRules: Array<{ user: string | null; access: string; topic: string }> = [];
  const patterns: Array<{ access: string; topic: string }> = [];
  for (const raw of file.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const [kw, a, t] = line.split(/\s+/);
    if (kw === "user") user = a!;
    else if (kw === "topic") userRules.push({ user, access: t === undefined ? "readwrite" : a!, topic: t ?? a! });
    else if (kw === "pattern") patterns.push({ access: t === undefined ? "readwrite" : a!, topic: t ?? a! });
    else throw new Error(`unexpected ACL line: ${line}`);
  }
  const grants = (ruleAccess: string) => ruleAccess === "readwrite" || ruleAccess === access;
  if (userRules.some((r) => r.user === username && grants(r.access) && topicMatches(r.topic, topic))) return true;
  if (/[+#]/.test(username)) return false;
  return patterns.some((p) => grants(p.access) && topicMatches(p.topic.replaceAll("%u", username), topic));
}

describe("the generated Mosquitto ACL file is equivalent to acl.ts", () => {
  const file = mosquittoAclFile(root);

  it("grants the same reads and writes for proplets and the manager on every Propeller topic", () => {
    const names = ["p1", "p2", "manager"];
    const grid = [...["p1", "p2", "p3"].flatMap((id) => ALL.map((n) => topics.proplet(id, n))), topics.managerOnline, `${root}/other`, "elsewhere/x"];
    let compared = 0;
    for (const name of names) {
      const identity = identityFromName(name);
      for (const topic of grid) {
        expect(mosquittoDecides(file, name, topic, "write"), `${name} write ${topic}`).toBe(acl.canPublish(identity, topic));
        expect(mosquittoDecides(file, name, topic, "read"), `${name} read ${topic}`).toBe(acl.canRead(identity, topic));
        compared += 2;
      }
    }
    expect(compared).toBe(names.length * grid.length * 2);
  });

  it("names every rule of aclRules once, with %u for the proplet id", () => {
    const rules = aclRules(root);
    const lines = file.split("\n");
    for (const t of rules.manager.subscribe) expect(lines).toContain(`topic read ${t}`);
    for (const t of rules.manager.publish) expect(lines).toContain(`topic write ${t}`);
    for (const t of rules.proplet.publish) expect(lines).toContain(`pattern write ${t.replace("{id}", "%u")}`);
    for (const t of rules.proplet.subscribe) expect(lines).toContain(`pattern read ${t.replace("{id}", "%u")}`);
    expect(lines.filter((l) => /^(topic|pattern) /.test(l))).toHaveLength(
      rules.manager.subscribe.length + rules.manager.publish.length + rules.proplet.publish.length + rules.proplet.subscribe.length,
    );
    expect(file).not.toMatch(/readwrite|#\s*$/m);
  });
});
