import { TLSSocket } from "node:tls";
import type { AedesOptions, AuthenticateError, Client } from "aedes";
import type { Logger } from "pino";
import type { CertKind } from "../../certs/index.js";
import { DEFAULT_TOPIC_ROOT } from "../../protocol/topics.js";
import { createAcl, identityFromName, type Acl, type BrokerIdentity } from "./acl.js";
import { DUMMY_HASH, verifyPassword, type CredentialStore } from "./credentials.js";
import { messageOf } from "../../lib/errors.js";

export type SecurityHooks = Required<Pick<AedesOptions, "preConnect" | "authenticate" | "authorizePublish" | "authorizeSubscribe" | "authorizeForward">>;

export interface BrokerSecurityOptions {
  /** The topic root the ACL confines (default `propeller/v1`). */
  topicRoot?: string;
  /** Per-proplet username/password (scrypt hashes), for proplets that cannot do mTLS. TLS only. */
  credentials?: CredentialStore;
  /**
   * "bound" (default): a client's MQTT client id must be its identity or `<identity>:<suffix>`,
   * so that nobody can take over (and so disconnect) another identity's session.
   */
  clientIds?: "bound" | "any";
  logger?: Logger;
}

export interface BrokerSecurity {
  hooks: SecurityHooks;
  acl: Acl;
  /** The identity a connected client authenticated as (for logs and tests). */
  identityOf(client: Client): BrokerIdentity | undefined;
}

const CLIENT_AUTH_OID = "1.3.6.1.5.5.7.3.2";
const MAX_CONCURRENT_PASSWORD_CHECKS = 4;
/** Which certificate kinds (subject OU) may hold which broker identity. */
const KIND_FOR: Record<BrokerIdentity["kind"], CertKind> = { proplet: "proplet", manager: "manager-client" };

function refuse(returnCode: 3 | 4 | 5, message: string): AuthenticateError {
  // aedes' AuthErrorCode is a `const enum` in its typings, unusable under isolatedModules: same numbers.
  return Object.assign(new Error(message), { returnCode }) as unknown as AuthenticateError;
}

type Outcome = { identity: BrokerIdentity; name: string; via: "certificate" | "credentials" } | { error: AuthenticateError; reason: string };

/**
 * aedes hooks that authenticate every client and confine it with the ACL (acl.ts):
 * - identity from the TLS client certificate's CN, which the TLS layer verified against our CA
 *   (listen with `requestCert: true, rejectUnauthorized: true`; see brokerTlsOptions); the
 *   subject OU must be the certificate kind that may hold that identity, and the certificate must
 *   allow clientAuth. Or, where configured, a proplet's username/password over TLS.
 * - the last will is checked at CONNECT: a proplet may only leave its own status topic.
 * - publish / subscribe are checked against the ACL; denied subscriptions get SUBACK 0x80;
 *   denied publishes end the client's connection (aedes' behaviour for a refused publish).
 * - delivery is checked again (authorizeForward), so nothing reaches a client it could not read.
 */
export function createBrokerSecurity(options: BrokerSecurityOptions = {}): BrokerSecurity {
  const acl = createAcl(options.topicRoot ?? DEFAULT_TOPIC_ROOT);
  const log = options.logger;
  const identities = new WeakMap<Client, BrokerIdentity>();
  const connects = new WeakMap<Client, { clientId: string; willTopic: string | undefined }>();
  const bound = (options.clientIds ?? "bound") === "bound";
  // scrypt costs ~32 MiB and tens of ms: bound how many unauthenticated CONNECTs may run it at once.
  let passwordChecks = 0;

  async function resolve(client: Client, username: string | undefined, password: Buffer | undefined): Promise<Outcome> {
    const conn = client.conn;
    if (!(conn instanceof TLSSocket)) {
      return { error: refuse(5, "not authorized"), reason: "not a TLS connection" };
    }
    const peer = conn.getPeerCertificate();
    const presented = peer && Object.keys(peer).length > 0;
    if (presented) {
      // A certificate the TLS layer did not verify is refused, never "fallen back" from.
      if (!conn.authorized) return { error: refuse(5, "not authorized"), reason: `client certificate not verified: ${String(conn.authorizationError)}` };
      const cn = typeof peer.subject?.CN === "string" ? peer.subject.CN : undefined;
      const ou = typeof peer.subject?.OU === "string" ? peer.subject.OU : undefined;
      if (!cn) return { error: refuse(5, "not authorized"), reason: "certificate has no single CN" };
      const identity = identityFromName(cn);
      if (!identity) return { error: refuse(5, "not authorized"), reason: `CN "${cn}" has no broker rights` };
      if (ou !== KIND_FOR[identity.kind]) {
        return { error: refuse(5, "not authorized"), reason: `CN "${cn}" on a certificate of kind "${ou ?? "none"}"` };
      }
      if (!(peer.ext_key_usage ?? []).includes(CLIENT_AUTH_OID)) return { error: refuse(5, "not authorized"), reason: "certificate does not allow clientAuth" };
      if (username !== undefined && username !== cn) return { error: refuse(4, "bad user name or password"), reason: `username "${username}" is not the certificate's CN "${cn}"` };
      return { identity, name: cn, via: "certificate" };
    }
    if (!options.credentials || username === undefined || password === undefined) {
      return { error: refuse(5, "not authorized"), reason: "no client certificate and no credentials" };
    }
    if (passwordChecks >= MAX_CONCURRENT_PASSWORD_CHECKS) {
      return { error: refuse(3, "server unavailable"), reason: "too many password checks in flight" };
    }
    const stored = options.credentials.get(username);
    passwordChecks++;
    let ok: boolean;
    try {
      // Unknown users cost the same scrypt as known ones, so names cannot be probed by timing.
      ok = await verifyPassword(password, stored ?? DUMMY_HASH).catch(() => false);
    } finally {
      passwordChecks--;
    }
    const identity = identityFromName(username);
    if (!stored || !ok || identity?.kind !== "proplet") return { error: refuse(4, "bad user name or password"), reason: "credentials refused" };
    return { identity, name: username, via: "credentials" };
  }

  const hooks: SecurityHooks = {
    preConnect(client, packet, callback) {
      // The will and client id are known here; identity only in authenticate, which checks both.
      connects.set(client, { clientId: packet.clientId ?? "", willTopic: packet.will?.topic });
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      resolve(client, username, password).then(
        (outcome) => {
          const connect = connects.get(client);
          connects.delete(client);
          if ("error" in outcome) {
            log?.warn({ reason: outcome.reason, remote: client.conn && "remoteAddress" in client.conn ? client.conn.remoteAddress : undefined }, "mqtt connection refused");
            return done(outcome.error, false);
          }
          const { identity, name, via } = outcome;
          const clientId = connect?.clientId ?? "";
          if (bound && clientId !== name && !clientId.startsWith(`${name}:`)) {
            log?.warn({ identity: name, clientId }, "mqtt connection refused: client id not bound to the identity");
            return done(refuse(5, "not authorized"), false);
          }
          if (connect?.willTopic !== undefined && !acl.canWill(identity, connect.willTopic)) {
            log?.warn({ identity: name, will: connect.willTopic }, "mqtt connection refused: last will outside the client's own topics");
            return done(refuse(5, "not authorized"), false);
          }
          identities.set(client, identity);
          log?.info({ identity: name, via, clientId }, "mqtt client authenticated");
          done(null, true);
        },
        (err: unknown) => {
          log?.error({ err: messageOf(err) }, "mqtt authentication failed");
          done(refuse(5, "not authorized"), false);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      // client is null for the broker's own messages ($SYS heartbeats): not a client's publish.
      if (client === null) return callback(null);
      const identity = identities.get(client) ?? null;
      if (acl.canPublish(identity, packet.topic)) return callback(null);
      log?.warn({ clientId: client.id, topic: packet.topic }, "mqtt publish refused by ACL");
      callback(new Error("publish not authorized"));
    },

    authorizeSubscribe(client, subscription, callback) {
      const identity = identities.get(client) ?? null;
      if (acl.canSubscribe(identity, subscription.topic)) return callback(null, subscription);
      log?.warn({ clientId: client.id, filter: subscription.topic }, "mqtt subscription refused by ACL");
      callback(null, null); // SUBACK 0x80 for this filter; the connection stays up
    },

    authorizeForward(client, packet) {
      return acl.canRead(identities.get(client) ?? null, packet.topic) ? packet : null;
    },
  };

  return { hooks, acl, identityOf: (client) => identities.get(client) };
}
