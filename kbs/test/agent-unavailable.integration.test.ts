// The attestation agent against a KBS that restarts: a resource fetch rides out the gap (bounded),
// and a refusal is never retried.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { addReferenceValue, adminKeygen, putResource, setResourcePolicy, type AdminKeyPair } from "../admin-client.js";
import { KbsClient } from "../../attestation/agent/kbs-client.js";
import { generateAttestedKeys } from "../../attestation/agent/keys.js";
import { SampleAttester } from "../../attestation/attesters/sample.js";
import { createTestDatabase, type TestDatabase } from "../../testing/postgres.js";
import { freePort } from "../../testing/net.js";
import { SAMPLE_POLICY, sampleSvnReference, startTestKbs, type TestKbs } from "./helpers.js";

describe("the agent while the KBS restarts", () => {
  let pg: TestDatabase;
  let admin: AdminKeyPair;
  let port: number;
  const masterKey = randomBytes(32).toString("base64");
  const secret = randomBytes(32);
  const running: TestKbs[] = [];
  const startOnPort = async () => {
    const kbs = await startTestKbs({ databaseUrl: pg.url, listen: { host: "127.0.0.1", port }, masterKey, issuer: "https://kbs.test" }, undefined, admin);
    running.push(kbs);
    return kbs;
  };
  const client = async (unavailableRetryMs?: number) =>
    new KbsClient({ url: `http://127.0.0.1:${port}`, attester: new SampleAttester(), keys: await generateAttestedKeys(), timeoutMs: 5000, ...(unavailableRetryMs !== undefined ? { unavailableRetryMs } : {}) });

  beforeAll(async () => {
    pg = await createTestDatabase("kbs_agent_gap");
    admin = await adminKeygen({ id: "ops" });
    port = await freePort();
    const first = await startOnPort();
    await putResource(first.conn, "gap/key/one", secret);
    await setResourcePolicy(first.conn, "gap/key/one", SAMPLE_POLICY);
    await addReferenceValue(first.conn, sampleSvnReference());
    await first.close();
  });
  afterAll(async () => {
    for (const k of running) await k.close().catch(() => undefined);
    await pg?.drop();
  });

  it("a fetch started while the KBS is down gets the resource once it is back", async () => {
    const agent = await client();
    const fetching = agent.getResource("kbs:///gap/key/one");
    await new Promise((r) => setTimeout(r, 1200));
    const kbs = await startOnPort();
    expect(Buffer.from(await fetching).equals(secret)).toBe(true);
    await kbs.close();
  });

  it("gives up with kbs_unavailable once its budget is spent, and at once with no budget", async () => {
    const started = Date.now();
    await expect((await client(600)).getResource("kbs:///gap/key/one")).rejects.toMatchObject({ code: "kbs_unavailable" });
    expect(Date.now() - started).toBeLessThan(5000);
    await expect((await client(0)).getResource("kbs:///gap/key/one")).rejects.toMatchObject({ code: "kbs_unavailable", message: expect.stringMatching(/cannot reach the KBS/) });
  });

  it("a refusal is final: no retry of a resource the policy does not release", async () => {
    const kbs = await startOnPort();
    try {
      const started = Date.now();
      await expect((await client()).getResource("kbs:///gap/key/missing")).rejects.toMatchObject({ code: "kbs_not_found" });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await kbs.close();
    }
  });
});
