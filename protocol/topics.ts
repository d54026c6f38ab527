/**
 * MQTT topics. Every topic that concerns one proplet names it, and the proplet is the only client
 * (besides the manager) that a broker ACL lets touch it: `<root>/proplets/<id>/...`.
 * `root` defaults to `propeller/v1`; tests use a unique root so that runs sharing a broker stay apart.
 *
 * | topic                                   | from → to          | message            |
 * |-----------------------------------------|--------------------|--------------------|
 * | <root>/proplets/<id>/announce           | proplet → manager  | proplet.announce   |
 * | <root>/proplets/<id>/heartbeat          | proplet → manager  | proplet.heartbeat  |
 * | <root>/proplets/<id>/status             | proplet / broker (last will) → manager | proplet.status |
 * | <root>/proplets/<id>/tasks/start        | manager → proplet  | task.start         |
 * | <root>/proplets/<id>/tasks/stop         | manager → proplet  | task.stop          |
 * | <root>/proplets/<id>/tasks/accepted     | proplet → manager  | task.accepted      |
 * | <root>/proplets/<id>/tasks/result       | proplet → manager  | task.result        |
 * | <root>/proplets/<id>/tasks/result-ack   | manager → proplet  | task.result-ack    |
 * | <root>/proplets/<id>/tasks/log          | proplet → manager  | task.log           |
 * | <root>/proplets/<id>/control            | manager → proplet  | proplet.control    |
 * | <root>/proplets/<id>/artifacts/request  | proplet → manager  | artifact.request   |
 * | <root>/proplets/<id>/artifacts/chunk    | manager → proplet  | artifact.chunk / artifact.refused |
 * | <root>/proplets/<id>/functions/deploy   | manager → proplet  | function.deploy    |
 * | <root>/proplets/<id>/functions/status   | proplet → manager  | function.status    |
 * | <root>/proplets/<id>/functions/invoke   | manager → proplet  | function.invoke    |
 * | <root>/proplets/<id>/functions/reply    | proplet → manager  | function.reply     |
 * | <root>/proplets/<id>/secagg/request     | manager → proplet  | secagg.request     |
 * | <root>/proplets/<id>/secagg/reply       | proplet → manager  | secagg.reply       |
 * | <root>/manager/online                   | manager → all      | manager.online     |
 */
export const DEFAULT_TOPIC_ROOT = "propeller/v1";

/** Proplet ids are used in topics and ACLs: no wildcards, no separators. */
export const PROPLET_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
const PROPLET_ID_RE = new RegExp(PROPLET_ID_PATTERN);

export function isValidPropletId(id: string): boolean {
  return PROPLET_ID_RE.test(id);
}

export type PropletTopicName =
  | "announce"
  | "heartbeat"
  | "status"
  | "tasks/start"
  | "tasks/stop"
  | "tasks/accepted"
  | "tasks/result"
  | "tasks/result-ack"
  | "tasks/log"
  | "control"
  | "artifacts/request"
  | "artifacts/chunk"
  | "functions/deploy"
  | "functions/status"
  | "functions/invoke"
  | "functions/reply"
  | "secagg/request"
  | "secagg/reply";

/** Topics a proplet publishes on (its own id only). */
export const PROPLET_PUBLISHES: readonly PropletTopicName[] = [
  "announce",
  "heartbeat",
  "status",
  "tasks/accepted",
  "tasks/result",
  "tasks/log",
  "artifacts/request",
  "functions/status",
  "functions/reply",
  "secagg/reply",
];
/** Topics a proplet subscribes to (its own id only), plus `manager/online`. */
export const PROPLET_SUBSCRIBES: readonly PropletTopicName[] = ["tasks/start", "tasks/stop", "tasks/result-ack", "control", "artifacts/chunk", "functions/deploy", "functions/invoke", "secagg/request"];

export class Topics {
  constructor(readonly root: string = DEFAULT_TOPIC_ROOT) {
    if (/[#+]/.test(root) || root.endsWith("/") || root.length === 0) {
      throw new Error(`topic root "${root}" must be non-empty, without wildcards or a trailing slash`);
    }
  }

  proplet(id: string, name: PropletTopicName): string {
    if (!isValidPropletId(id)) throw new Error(`invalid proplet id "${id}"`);
    return `${this.root}/proplets/${id}/${name}`;
  }

  /** Wildcard the manager subscribes to for one kind of proplet message. */
  allProplets(name: PropletTopicName): string {
    return `${this.root}/proplets/+/${name}`;
  }

  get managerOnline(): string {
    return `${this.root}/manager/online`;
  }

  /** Splits a proplet topic into its proplet id and name, or null when it is not one of ours. */
  parse(topic: string): { propletId: string; name: PropletTopicName } | null {
    const prefix = `${this.root}/proplets/`;
    if (!topic.startsWith(prefix)) return null;
    const rest = topic.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash <= 0) return null;
    const propletId = rest.slice(0, slash);
    const name = rest.slice(slash + 1) as PropletTopicName;
    if (!isValidPropletId(propletId)) return null;
    const known: readonly string[] = [...PROPLET_PUBLISHES, ...PROPLET_SUBSCRIBES];
    return known.includes(name) ? { propletId, name } : null;
  }
}
