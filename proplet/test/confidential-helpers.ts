/**
 * Shared setup of the confidential-run tests: a real KBS (development mode, in-memory database)
 * with an admin key, workloads encrypted with the real age encryption and stored in the KBS.
 */
import { randomBytes } from "node:crypto";
import pino from "pino";
import type { JSONWebKeySet } from "jose";
import { adminKeygen, mintAdminToken, putResource, readAudit, setAttestationPolicy, setResourcePolicy, startKbs, type AdminConnection, type RunningKbs } from "../../kbs/index.js";
import type { ResourcePolicy } from "../../kbs/index.js";
import type { KbsConfigInput } from "../../kbs/index.js";
import { encryptWorkload, type EncryptedWorkload } from "../../protocol/workload-encryption.js";

export interface TestKbs {
  kbs: RunningKbs;
  admin: AdminConnection;
  jwks(): Promise<JSONWebKeySet>;
  /** Encrypts `plaintext`, stores its age identity at `resource` with `policy`. */
  seal(plaintext: Uint8Array, resource: string, policy: ResourcePolicy): Promise<EncryptedWorkload>;
  /** Successful attestations the KBS recorded so far. */
  attestations(): Promise<number>;
  /** Releases of `resource` the KBS recorded so far. */
  releases(resource: string): Promise<number>;
}

export async function startTestKbs(over: Partial<KbsConfigInput> = {}): Promise<TestKbs> {
  const key = await adminKeygen({ id: "ops" });
  const kbs = await startKbs(
    {
      listen: { host: "127.0.0.1", port: 0 },
      developmentMode: true,
      masterKey: randomBytes(32).toString("base64"),
      admin: { keys: [{ id: "ops", publicKey: key.publicJwk as Record<string, unknown>, roles: ["admin"] }] },
      ...over,
    } as KbsConfigInput,
    { logger: pino({ level: "silent" }) },
  );
  const admin: AdminConnection = { url: kbs.url, token: () => mintAdminToken(key.privateJwk, { keyId: "ops" }) };
  // The sample TEE has no reference values: its appraisal must not require them (development).
  await setAttestationPolicy(admin, "sample", { id: "dev", requireReferenceValues: false });
  return {
    kbs,
    admin,
    async jwks() {
      const response = await fetch(`${kbs.url}/.well-known/jwks.json`);
      if (!response.ok) throw new Error(`jwks: ${response.status}`);
      return (await response.json()) as JSONWebKeySet;
    },
    async seal(plaintext, resource, policy) {
      const sealed = await encryptWorkload(plaintext);
      await putResource(admin, resource, Buffer.from(sealed.identity));
      await setResourcePolicy(admin, resource, policy);
      return sealed;
    },
    async attestations() {
      const rows = (await readAudit(admin, { event: "attest", limit: 1000 })) as Array<{ outcome: string }>;
      return rows.filter((r) => r.outcome === "ok").length;
    },
    async releases(resource) {
      const path = resource.replace(/^kbs:\/\/\//, "");
      const rows = (await readAudit(admin, { event: "release", limit: 1000 })) as Array<{ outcome: string; subject: string | null }>;
      return rows.filter((r) => r.outcome === "ok" && r.subject === path).length;
    },
  };
}

/**
 * The module with a custom section appended (id 0, name "marker", `payload`): still valid Wasm
 * that runs the same, but bytes no other test or file has, so a scan for them cannot be fooled.
 */
export function withMarker(module: Uint8Array, payload: Uint8Array): Uint8Array {
  const name = Buffer.from("marker");
  const body = Buffer.concat([leb(name.byteLength), name, payload]);
  return new Uint8Array(Buffer.concat([module, Buffer.from([0]), leb(body.byteLength), body]));
}

function leb(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}
