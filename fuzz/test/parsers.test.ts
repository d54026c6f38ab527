/**
 * Every parser that reads bytes from outside, fuzzed (fuzz/harness.ts): given a mutated real
 * sample or random input, it returns or throws a typed error, within the hang bound. The saved
 * regression inputs of fuzz/corpus/<target>/ are replayed first on every run.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { describe, it } from "vitest";
import fc from "fast-check";
import type { TSchema } from "@sinclair/typebox";
import { FUZZ_RUNS, corpus, fuzz, hostileBytes, mutatedBytes, mutatedJson, sampleOf, survives } from "../harness.js";
import { TOPIC_SCHEMAS, decodeTopicMessage, decodeManagerOnline, decodePayload, ManagerOnline, type PropletTopicName } from "../../protocol/index.js";
import { inputDigest, receiptOutput, receiptSigner, sha256Digest, signReceipt, verifyReceipt, tryParseKbsResourceUri } from "../../protocol/index.js";
import { decryptWorkload, encryptWorkload } from "../../protocol/workload-encryption.js";
import { SecAggAdvertise, SecAggMaskedInput, SecAggShareKeys, SecAggUnmask } from "../../protocol/secagg/index.js";
import { parseSnpReport } from "../../attestation/snp/report.js";
import { decodeSnpEvidence, parseCertTable, readSnpEvidenceFile } from "../../attestation/snp/evidence.js";
import { parseVek } from "../../attestation/snp/certs.js";
import { parseTdxQuote } from "../../attestation/tdx/quote.js";
import { decodeTdxEvidence, quoteFromEvidenceFile } from "../../attestation/tdx/evidence.js";
import { parseCrl } from "../../attestation/tdx/collateral.js";
import { parseQuote } from "../../attestation/tpm/attest.js";
import { parseSignature } from "../../attestation/tpm/signature.js";
import { decodeTpmEvidence } from "../../attestation/tpm/evidence.js";
import { decodeAzSnpVtpmEvidence } from "../../attestation/az-snp-vtpm/evidence.js";
import { parseHclReport } from "../../attestation/az-snp-vtpm/hcl.js";
import { parseManifest } from "../../oci/manifest.js";
import { parseReference } from "../../oci/reference.js";
import { parseArgs, parseWaveValue } from "../../proplet/execute/component/wave.js";
import type { WitType } from "../../proplet/execute/component/wit.js";
import { AttestBody, AuthBody, JweBody } from "../../kbs/routes/schemas.js";
import { validate } from "../../protocol/codec.js";
import { describeWithVectors, readVector } from "../../testing/vectors.js";

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
const json = (b: Uint8Array): unknown => {
  try {
    return JSON.parse(text(b));
  } catch {
    return text(b);
  }
};
const asBytes = (value: unknown) => new Uint8Array(Buffer.from(JSON.stringify(value) ?? "null"));

/** Replays a target's saved corpus, then fuzzes it. */
async function target<T>(name: string, arbitrary: fc.Arbitrary<T>, parse: (input: T) => unknown, fromBytes: (b: Uint8Array) => T): Promise<void> {
  for (const saved of corpus(name)) await survives(parse as (input: never) => unknown, fromBytes(saved));
  await fuzz(arbitrary, parse);
}

describe("fuzz: MQTT messages (every inbound schema, the envelope, the size bound)", () => {
  for (const name of Object.keys(TOPIC_SCHEMAS) as PropletTopicName[]) {
    it(`${name}`, async () => {
      const schema = TOPIC_SCHEMAS[name] as TSchema;
      const sample = sampleOf(schema);
      const inputs = fc.oneof({ weight: 3, arbitrary: mutatedJson([sample]).map(asBytes) }, { weight: 1, arbitrary: hostileBytes([asBytes(sample)]) });
      await target(`mqtt-${name.replace("/", "-")}`, inputs, (bytes) => decodeTopicMessage(name, bytes), (b) => b);
    });
  }
  it("manager.online", async () => {
    const sample = sampleOf(ManagerOnline);
    await target("mqtt-manager-online", mutatedJson([sample]).map(asBytes), decodeManagerOnline, (b) => b);
  });
  it("secure aggregation messages", async () => {
    for (const schema of [SecAggAdvertise, SecAggShareKeys, SecAggMaskedInput, SecAggUnmask]) {
      await fuzz(mutatedJson([sampleOf(schema)]).map(asBytes), (bytes) => decodePayload(schema, bytes), Math.ceil(FUZZ_RUNS / 4));
    }
  });
});

describeWithVectors("fuzz: attestation evidence (mutated real vectors)", () => {
  it("SNP report", async () => {
    const samples = [readVector("snp/trustee/test-report.bin"), readVector("snp/trustee/test-vlek-report.bin")].map((b) => new Uint8Array(b));
    await target("snp-report", hostileBytes(samples), parseSnpReport, (b) => b);
  });
  it("SNP evidence (JSON, certificate table, evidence file) and VCEK/VLEK certificates", async () => {
    const report = readVector("snp/trustee/test-report.bin");
    const certs = [readVector("snp/trustee/test-vcek.der"), readVector("snp/trustee/test-vlek.der")].map((b) => new Uint8Array(b));
    const evidence = { attestation_report: Buffer.from(report).toString("base64"), cert_chain: null };
    await target("snp-evidence", mutatedJson([evidence]), decodeSnpEvidence, json);
    await target("snp-cert-table", hostileBytes([new Uint8Array(report.subarray(0, 200))]), parseCertTable, (b) => b);
    await target("snp-evidence-file", hostileBytes([asBytes(evidence), new Uint8Array(report)]), readSnpEvidenceFile, (b) => b);
    await target("snp-vek", hostileBytes(certs), (b) => parseVek(b), (b) => b);
  });
  it("TDX quotes (v4, v5), evidence, CRLs", async () => {
    const quotes = ["tdx/trustee/tdx_quote_4.dat", "tdx/trustee/tdx_quote_5.dat", "tdx/go-tdx-guest/quote_v5_sample.dat"].map((f) => new Uint8Array(readVector(f)));
    await target("tdx-quote", hostileBytes(quotes), parseTdxQuote, (b) => b);
    await target("tdx-evidence", mutatedJson([{ quote: Buffer.from(quotes[0]!).toString("base64") }]), decodeTdxEvidence, json);
    await target("tdx-evidence-file", hostileBytes([quotes[0]!]), quoteFromEvidenceFile, (b) => b);
    await target("tdx-crl", hostileBytes([new Uint8Array(readVector("tdx/go-tdx-guest/rootcrl.der"))]), (b) => parseCrl(b, "fuzzed CRL"), (b) => b);
  });
  it("TPM quotes, signatures, evidence", async () => {
    const evidence = JSON.parse(readVector("tpm/trustee/tpm_evidence.json").toString("utf8")) as Record<string, unknown>;
    const bytesOf = (v: unknown) => (typeof v === "string" ? new Uint8Array(Buffer.from(v, /^[0-9a-f]+$/i.test(v) ? "hex" : "base64")) : new Uint8Array());
    const quote = Object.values(evidence).map(bytesOf).filter((b) => b.length > 40);
    await target("tpm-evidence", mutatedJson([evidence]), decodeTpmEvidence, json);
    await target("tpm-quote", hostileBytes(quote.length ? quote : [new Uint8Array(64)]), parseQuote, (b) => b);
    await target("tpm-signature", hostileBytes(quote.length ? quote : [new Uint8Array(64)]), parseSignature, (b) => b);
  });
  it("Azure SNP vTPM evidence and HCL report", async () => {
    const samples = ["azure-snp-vtpm/trustee/evidence-v1.json", "azure-snp-vtpm/trustee/evidence-v2.json"].map((f) => JSON.parse(readVector(f).toString("utf8")) as unknown);
    await target("az-evidence", mutatedJson(samples), decodeAzSnpVtpmEvidence, json);
    await target("az-hcl-report", hostileBytes([new Uint8Array(readVector("azure-snp-vtpm/trustee/hcl-report.bin"))]), parseHclReport, (b) => b);
  });
});

describe("fuzz: KBS protocol, OCI, WAVE, age, receipts", () => {
  it("KBS auth/attest/JWE bodies and resource URIs", async () => {
    const auth = { version: "0.4.0", tee: "sample", "extra-params": "" };
    const attest = { "init-data": null, "runtime-data": { nonce: "n", "tee-pubkey": { kty: "EC", crv: "P-256", alg: "ES256", x: "x", y: "y" } }, "tee-evidence": "{}" };
    const jwe = { protected: "e30", encrypted_key: "", iv: "AAAA", ciphertext: "AAAA", tag: "AAAA" };
    await target("kbs-auth", mutatedJson([auth]), (v) => validate(AuthBody, v), json);
    await target("kbs-attest", mutatedJson([attest]), (v) => validate(AttestBody, v), json);
    await target("kbs-jwe", mutatedJson([jwe]), (v) => validate(JweBody, v), json);
    await target("kbs-resource-uri", fc.oneof(fc.string({ maxLength: 600 }), fc.constantFrom("kbs:///a/b/c", "kbs:///a/b/c/d", "kbs:///../b/c", "kbs:////b/c")), (s) => tryParseKbsResourceUri(s), text);
  });
  it("OCI manifests and references", async () => {
    const manifest = {
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.wasm.config.v0+json", digest: sha256Digest("c"), size: 2 },
      layers: [{ mediaType: "application/wasm", digest: sha256Digest("l"), size: 10 }],
    };
    const index = { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{ mediaType: manifest.mediaType, digest: sha256Digest("m"), size: 3, platform: { os: "wasip1", architecture: "wasm" } }] };
    await target("oci-manifest", fc.oneof(mutatedJson([manifest, index]).map(asBytes), hostileBytes([asBytes(manifest)])), (b) => parseManifest(b, "application/vnd.oci.image.manifest.v1+json", "fuzzed manifest"), (b) => b);
    await target("oci-reference", fc.oneof(fc.string({ maxLength: 300 }), fc.constantFrom("ghcr.io/a/b:1", "localhost:5000/x@sha256:" + "0".repeat(64), "a//b", ":tag")), parseReference, text);
  });
  it("WAVE values and arguments", async () => {
    const types: Array<{ name: string; type: WitType }> = [
      { name: "n", type: { kind: "u32" } },
      { name: "s", type: { kind: "string" } },
      { name: "l", type: { kind: "list", of: { kind: "option", of: { kind: "s64" } } } },
      { name: "r", type: { kind: "record", name: "point", fields: [{ name: "x", type: { kind: "f64" } }] } },
      { name: "v", type: { kind: "result", ok: { kind: "char" }, err: null } },
    ];
    const samples = ['7, "hi\\n", [some(-1), none], {x: 1.5}, ok(\'a\')', "[[[[[[[[[[[[[", '"\\u{1F600}"', "{x: nan}"];
    const textual = fc.oneof(fc.constantFrom(...samples), mutatedBytes(samples.map((s) => new TextEncoder().encode(s))).map(text), fc.string({ maxLength: 200 }));
    await target("wave-args", textual, (s) => parseArgs(s, types, "f"), text);
    await target("wave-value", textual, parseWaveValue, text);
  });
  it("age ciphertexts (workload decryption)", async () => {
    const enc = await encryptWorkload(randomBytes(300));
    const identity = new TextEncoder().encode(enc.identity);
    await target("age-workload", hostileBytes([enc.ciphertext]), (b) => decryptWorkload(b, identity), (b) => b);
  });
  it("receipt JWS", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const signer = await receiptSigner(privateKey, publicKey);
    const now = new Date();
    const result = { stdout: "", stderr: "", stdoutTruncated: false, stderrTruncated: false, exitCode: 0, returnValues: null, error: null };
    const jws = await signReceipt(
      {
        receiptVersion: 1, taskId: "t", runId: "r", nonce: randomBytes(32).toString("base64url"), propletId: "p", tee: null, attested: false,
        workload: { plaintext: sha256Digest("w"), ciphertext: null }, inputDigest: inputDigest({ entrypoint: { kind: "wasi" }, args: [], env: {}, stdin: "" }),
        output: receiptOutput(result), outcome: "completed", startedAt: now.toISOString(), finishedAt: now.toISOString(), earToken: null, iat: Math.floor(now.getTime() / 1000),
      } as Parameters<typeof signReceipt>[0],
      signer,
    );
    const parts = jws.split(".");
    const mutatedPayload = mutatedJson([JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8"))]).map((p) => `${parts[0]}.${Buffer.from(JSON.stringify(p) ?? "").toString("base64url")}.${parts[2]}`);
    const inputs = fc.oneof(mutatedPayload, mutatedBytes([new TextEncoder().encode(jws)]).map(text), fc.string({ maxLength: 400 }));
    await target("receipt-jws", inputs, (s) => verifyReceipt(s), text);
  });
});
