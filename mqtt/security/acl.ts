import { PROPLET_PUBLISHES, PROPLET_SUBSCRIBES, Topics, isValidPropletId } from "../../protocol/topics.js";
import { MANAGER_IDENTITY } from "../../certs/index.js";
import { topicMatches } from "../topic-filter.js";

/**
 * The broker ACL, in one place, derived from protocol/topics.ts. Both the embedded broker's hooks
 * (aedes-hooks.ts) and the generated Mosquitto ACL file (mosquitto-config.ts) come from
 * `aclRules`, so the two deployments cannot drift apart.
 *
 * Identities (what the TLS client certificate's CN, or a proplet's credentials, establish):
 * - a proplet `<id>`: its own topics only, never a wildcard;
 * - `manager`: every proplet's manager-side topics and `manager/online`;
 * - anyone else (operators, unknown CNs): nothing.
 */
export { MANAGER_IDENTITY };

export type BrokerIdentity = { kind: "proplet"; id: string } | { kind: "manager" };

/** `{id}` in a proplet rule stands for the proplet's own id (Mosquitto's `%u`). */
export const ID_PLACEHOLDER = "{id}";

export interface AclRules {
  proplet: { publish: string[]; subscribe: string[] };
  manager: { publish: string[]; subscribe: string[] };
}

/** Manager → proplet topics: what proplets subscribe to is exactly what the manager publishes. */
export function aclRules(root: string): AclRules {
  const topics = new Topics(root); // validates the root (no wildcards, no trailing slash)
  const own = (name: string) => `${topics.root}/proplets/${ID_PLACEHOLDER}/${name}`;
  const all = (name: string) => `${topics.root}/proplets/+/${name}`;
  return {
    proplet: {
      publish: PROPLET_PUBLISHES.map(own),
      subscribe: [...PROPLET_SUBSCRIBES.map(own), topics.managerOnline],
    },
    manager: {
      publish: [...PROPLET_SUBSCRIBES.map(all), topics.managerOnline],
      // manager/online too: Mosquitto's `pattern read` for proplets applies to every user, the
      // manager included, and reading its own announcements (or a second manager's) is harmless.
      subscribe: [...PROPLET_PUBLISHES.map(all), topics.managerOnline],
    },
  };
}

/** Maps an authenticated name (certificate CN or credential user) to an ACL identity, or null. */
export function identityFromName(name: string): BrokerIdentity | null {
  if (name === MANAGER_IDENTITY) return { kind: "manager" };
  if (isValidPropletId(name)) return { kind: "proplet", id: name };
  return null;
}

export interface Acl {
  readonly root: string;
  readonly rules: AclRules;
  /** May `identity` publish to `topic` (a concrete topic, no wildcards)? */
  canPublish(identity: BrokerIdentity | null, topic: string): boolean;
  /** May `identity` subscribe to `filter`? Every topic the filter matches must be readable. */
  canSubscribe(identity: BrokerIdentity | null, filter: string): boolean;
  /** May a message on `topic` be delivered to `identity` (checked again at delivery)? */
  canRead(identity: BrokerIdentity | null, topic: string): boolean;
  /** The only last will a client may leave: a proplet its own status; the manager a topic it may publish. */
  canWill(identity: BrokerIdentity | null, topic: string): boolean;
}

export function createAcl(root: string): Acl {
  const rules = aclRules(root);
  const topics = new Topics(root);
  const concrete = (list: string[], id: string) => list.map((rule) => rule.replace(ID_PLACEHOLDER, id));
  const hasWildcard = (t: string) => /[+#]/.test(t);
  const valid = (t: string) => t.length > 0 && t.length <= 65_535 && !t.startsWith("$") && !t.includes("\u0000");

  return {
    root,
    rules,
    canPublish(identity, topic) {
      if (!identity || !valid(topic) || hasWildcard(topic)) return false;
      if (identity.kind === "proplet") return concrete(rules.proplet.publish, identity.id).includes(topic);
      return rules.manager.publish.some((rule) => topicMatches(rule, topic));
    },
    canSubscribe(identity, filter) {
      if (!identity || !valid(filter)) return false;
      // A proplet subscribes to exact topics only: no wildcard, so no way to widen its view.
      if (identity.kind === "proplet") return concrete(rules.proplet.subscribe, identity.id).includes(filter);
      return rules.manager.subscribe.some((rule) => filterCovers(rule, filter));
    },
    canRead(identity, topic) {
      if (!identity || !valid(topic) || hasWildcard(topic)) return false;
      if (identity.kind === "proplet") return concrete(rules.proplet.subscribe, identity.id).includes(topic);
      return rules.manager.subscribe.some((rule) => topicMatches(rule, topic));
    },
    canWill(identity, topic) {
      if (!identity) return false;
      if (identity.kind === "proplet") return topic === topics.proplet(identity.id, "status");
      return this.canPublish(identity, topic);
    },
  };
}

/** True when every topic `filter` can match is matched by `rule` (so granting `filter` grants nothing more). */
export function filterCovers(rule: string, filter: string): boolean {
  const r = rule.split("/");
  const f = filter.split("/");
  for (let i = 0; i < Math.max(r.length, f.length); i++) {
    const rp = r[i];
    const fp = f[i];
    if (rp === "#") return true;
    if (rp === undefined || fp === undefined) return false;
    if (fp === "#") return false;
    if (rp === "+") continue; // one level of anything, "+" included
    if (fp === "+" || rp !== fp) return false;
  }
  return true;
}
