/**
 * withUnsealed against a real KBS (development mode, sample TEE): the runtime gets the plaintext,
 * and the buffer it got is zero once the run is over, whatever the run did.
 */
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AttestationAgent, generateAttestedKeys } from "../../attestation/agent/index.js";
import type { Attester } from "../../attestation/attester.js";
import { SampleAttester } from "../../attestation/attesters/sample.js";
import { withUnsealed } from "../trust/confidential.js";
import { startTestKbs, type TestKbs } from "./confidential-helpers.js";
import { example } from "./helpers.js";

let t: TestKbs;
let hello: Uint8Array;
const logger = pino({ level: "silent" });
beforeAll(async () => {
  t = await startTestKbs();
  hello = await example("hello/hello.wasm");
});
afterAll(async () => {
  await t?.kbs.close();
});

const agentWith = async (attester: Attester = new SampleAttester()) => new AttestationAgent(attester, await generateAttestedKeys(), { propletId: "p-trust", logger });
const never = new AbortController().signal;

describe("withUnsealed", () => {
  it("hands the plaintext to the run and zeroes that buffer afterwards, also when the run throws", async () => {
    const sealed = await t.seal(hello, "kbs:///trust/key/a", { allowedTees: ["sample"] });
    const spec = { kbsUrl: t.kbs.url, resource: "kbs:///trust/key/a", plaintextDigest: sealed.plaintextDigest, tee: "sample" as const };
    const agent = await agentWith();
    let seen: Uint8Array | undefined;
    const r = await withUnsealed(agent, sealed.ciphertext, spec, never, async (p) => {
      expect(Buffer.from(p).equals(Buffer.from(hello))).toBe(true);
      seen = p;
      return "ran";
    });
    expect(r).toMatchObject({ ok: true, value: "ran", attestation: { tee: "sample" } });
    expect(seen!.byteLength).toBe(hello.byteLength);
    expect(seen!.every((b) => b === 0)).toBe(true);

    let thrown: Uint8Array | undefined;
    await expect(
      withUnsealed(agent, sealed.ciphertext, spec, never, async (p) => {
        thrown = p;
        throw new Error("worker crashed");
      }),
    ).rejects.toThrow("worker crashed");
    expect(thrown!.every((b) => b === 0)).toBe(true);
  });

  it("a stop that lands while the key is fetched runs nothing", async () => {
    const sealed = await t.seal(hello, "kbs:///trust/key/b", { allowedTees: ["sample"] });
    const controller = new AbortController();
    const agent = await agentWith();
    const pending = withUnsealed(agent, sealed.ciphertext, { kbsUrl: t.kbs.url, resource: "kbs:///trust/key/b", plaintextDigest: sealed.plaintextDigest, tee: "sample" }, controller.signal, async () => {
      throw new Error("must not run");
    });
    controller.abort("stop");
    expect(await pending).toEqual({ ok: false, error: null });
  });

  it("an attester that fails is attestation_failed; nothing runs", async () => {
    // The attester is the hardware boundary: one whose evidence call fails, as tpm2-tools can.
    const broken: Attester = { tee: "sample", evidence: async () => Promise.reject(new Error("tpm2_quote: device busy")) };
    const sealed = await t.seal(hello, "kbs:///trust/key/c", { allowedTees: ["sample"] });
    let ran = false;
    const r = await withUnsealed(await agentWith(broken), sealed.ciphertext, { kbsUrl: t.kbs.url, resource: "kbs:///trust/key/c", plaintextDigest: sealed.plaintextDigest, tee: "sample" }, never, async () => {
      ran = true;
    });
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error?.code).toBe("attestation_failed");
    expect(!r.ok && r.error?.message).toContain("device busy");
    expect(!r.ok && r.error !== null && r.attestation).toBeNull();
    expect(ran).toBe(false);
  });
});
