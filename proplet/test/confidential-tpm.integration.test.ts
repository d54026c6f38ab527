/**
 * A confidential run on a proplet whose TEE is a real (software) TPM: swtpm, tpm2-tools quotes,
 * a real KBS that has enrolled the TPM's AK and the PCR reference values, the real broker.
 */
import { randomBytes } from "node:crypto";
import { decodeJwt } from "jose";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { KbsClient, generateAttestedKeys } from "../../attestation/agent/index.js";
import { TpmAttester } from "../../attestation/attesters/index.js";
import { addReferenceValue, setAttestationPolicy } from "../../kbs/index.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../mqtt/index.js";
import { receiptOutput, verifyReceipt } from "../../protocol/index.js";
import { uniqueTopicRoot } from "../../testing/net.js";
import { describeWithSwtpm, startSwtpm, type Swtpm } from "../../testing/swtpm.js";
import { startProplet, type RunningProplet } from "../index.js";
import { startTestKbs, type TestKbs } from "./confidential-helpers.js";
import { example } from "./helpers.js";
import { ScriptedManager } from "./scripted-manager.js";

const logger = pino({ level: "silent" });

describeWithSwtpm("confidential run on a TPM proplet (swtpm, real KBS)", () => {
  let tpm: Swtpm;
  let broker: EmbeddedBroker;
  let t: TestKbs;
  let manager: ScriptedManager;
  let proplet: RunningProplet;
  const id = `tpm-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    tpm = await startSwtpm();
    await tpm.tool("tpm2_pcrextend", [`7:sha256=${randomBytes(32).toString("hex")}`]);
    // Provisions the AK (persistent in the TPM); the proplet's own attester reuses it.
    const ak = await new TpmAttester({ tcti: tpm.tcti, pcrCount: 8 }).akPublic();
    t = await startTestKbs({ verifiers: { tpm: { trustedAkFingerprints: [ak.fingerprint] } } });
    // The operator enrols this (lab, software) TPM's boot PCRs, read from one probe attestation.
    const probe = new KbsClient({ url: t.kbs.url, attester: new TpmAttester({ tcti: tpm.tcti, pcrCount: 8 }), keys: await generateAttestedKeys() });
    const claims = decodeJwt((await probe.attest()).token) as { submods: { cpu0: Record<string, { tpm?: { pcrs: Record<string, string> } }> } };
    const pcrs = claims.submods.cpu0["ear.veraison.annotated-evidence"]!.tpm!.pcrs;
    await setAttestationPolicy(t.admin, "tpm", { id: "lab/swtpm", requireReferenceValues: true, unsafeClaims: [] });
    for (const index of ["0", "7"]) {
      await addReferenceValue(t.admin, { tee: "tpm", claim: `/pcrs/${index}`, value: pcrs[index]!, expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    }
    broker = await startEmbeddedBroker({ logger });
    const topicRoot = uniqueTopicRoot();
    manager = await ScriptedManager.connect(broker.url, topicRoot);
    proplet = await startProplet({ id, mqtt: { url: broker.url }, topicRoot, logger, tee: { type: "tpm", tcti: tpm.tcti, pcrCount: 8 } });
  }, 120_000);
  afterAll(async () => {
    await proplet?.close();
    await manager?.close();
    await broker?.close();
    await t?.kbs.close();
    await tpm?.dispose();
  });

  it("announces tpm, unseals under a TPM quote and returns a receipt attested by the KBS", async () => {
    const announce = await manager.next("announce", id);
    expect(announce.capabilities.tee).toEqual({ type: "tpm" });
    const hello = await example("hello/hello.wasm");
    const resource = `kbs:///tpm/key/w${randomBytes(4).toString("hex")}`;
    const sealed = await t.seal(hello, resource, { allowedTees: ["tpm"] });
    const start = await manager.start(id, sealed.ciphertext, { args: ["tpm"], confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "tpm" } });
    const result = await manager.result(id, start.runId, 60_000);
    expect(result.error).toBeNull();
    expect(Buffer.from(result.stdout, "base64").toString()).toContain("Hello, tpm!");
    const v = await verifyReceipt(result.receipt!, {
      jwks: await t.jwks(),
      nonce: start.receiptNonce,
      taskId: start.taskId,
      runId: start.runId,
      tee: "tpm",
      workloadDigest: sealed.ciphertextDigest,
      output: receiptOutput(result),
    });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.attested).toBe(true);
    expect(v.claims!.tee).toBe("tpm");
    // The receipt with a TPM EAR token stays far below the 64 KiB the result budget leaves for it.
    expect(result.receipt!.length).toBeLessThan(32 * 1024);
  }, 90_000);

  it("a resource that requires a PCR value this TPM does not have is refused with the PCR named; nothing runs", async () => {
    const hello = await example("hello/hello.wasm");
    const resource = `kbs:///tpm/key/w${randomBytes(4).toString("hex")}`;
    const sealed = await t.seal(hello, resource, { allowedTees: ["tpm"], pcrs: { "7": ["00".repeat(32)] } });
    const start = await manager.start(id, sealed.ciphertext, { confidential: { kbsUrl: t.kbs.url, resource, plaintextDigest: sealed.plaintextDigest, tee: "tpm" } });
    const result = await manager.result(id, start.runId, 60_000);
    expect(result.error?.code).toBe("kbs_denied");
    expect(result.error?.message).toMatch(/PCR7/);
    expect(result.startedAt).toBeNull();
  }, 90_000);
});
