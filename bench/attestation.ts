/**
 * Attestation throughput:
 *  - verifications/s of real SNP reports and TDX quotes (signature + chain, chains cached), against
 *    Node's raw ECDSA P-384 / P-256 verify rate on the same machine in the same run (the floor:
 *    every verification needs at least one such verify);
 *  - attestations/s through a real KBS over HTTP (auth + attest + resource, fresh client keys each
 *    time) for the sample TEE and for a real swtpm TPM quote.
 *
 *   npm run bench -- attestation [--seconds S]
 */
import { createSign, createVerify, generateKeyPairSync, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { VECTORS_DIR, vectorsAvailable } from "../testing/vectors.js";
import { fmt } from "./stats.js";
import { messageOf } from "../lib/errors.js";

async function rate(seconds: number, fn: () => unknown | Promise<unknown>): Promise<number> {
  await fn(); // warm: caches, JIT
  let n = 0;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

function ecdsaFloor(curve: "P-384" | "P-256", hash: "sha384" | "sha256") {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
  const data = randomBytes(672);
  const signature = createSign(hash).update(data).sign(privateKey);
  return () => {
    if (!createVerify(hash).update(data).verify(publicKey, signature)) throw new Error("floor verify failed");
  };
}

export async function benchAttestation(args: string[]): Promise<void> {
  const i = args.indexOf("--seconds");
  const seconds = i >= 0 ? Number(args[i + 1]) : 2;
  const rows: Array<[string, number, string]> = [];

  const p384 = await rate(seconds, ecdsaFloor("P-384", "sha384"));
  const p256 = await rate(seconds, ecdsaFloor("P-256", "sha256"));
  rows.push(["node:crypto ECDSA P-384 verify (floor for SNP)", p384, "1.00x"]);
  rows.push(["node:crypto ECDSA P-256 verify (floor for TDX)", p256, "1.00x"]);

  if (vectorsAvailable()) {
    const snp = await import("../attestation/snp/index.js");
    const report = await readFile(`${VECTORS_DIR}/snp/trustee/test-report.bin`);
    const vek = snp.parseVek(await readFile(`${VECTORS_DIR}/snp/trustee/test-vcek.der`));
    const cache = new snp.ChainCache(64);
    const now = new Date("2024-01-01T00:00:00Z");
    const snpRate = await rate(seconds, async () => {
      const r = await snp.verifySnpReport(report, { vek: vek.cert, cache, now });
      if (!r.ok) throw new Error("SNP vector did not verify");
    });
    rows.push(["SNP report verify (trustee vector, cached chain)", snpRate, `${fmt(snpRate / p384, 2)}x of P-384`]);

    const tdx = await import("../attestation/tdx/index.js");
    const quote = await readFile(`${VECTORS_DIR}/tdx/trustee/tdx_quote_6.dat`);
    const collateral = tdx.collateralFromFiles(
      await Promise.all(["tdx/trustee/tcbInfo.json", "tdx/trustee/enclaveIdentity.json", "intel-roots/tcb_signing_chain.pem"].map(async (f) => ({ name: f, bytes: await readFile(`${VECTORS_DIR}/${f}`) }))),
    );
    const tdxNow = new Date("2025-11-01T00:00:00Z");
    const tdxRate = await rate(seconds, async () => {
      const v = await tdx.verifyTdxQuote(quote, { collateral, now: tdxNow, requireCrls: false });
      if (!v.result.ok) throw new Error("TDX vector did not verify");
    });
    rows.push(["TDX quote verify + TCB (trustee quote 6, cached chains)", tdxRate, `${fmt(tdxRate / p256, 2)}x of P-256`]);
  } else {
    console.log(`(SNP/TDX rows skipped: vectors not found at ${VECTORS_DIR})`);
  }

  // The whole protocol over HTTP: a real KBS (PGlite), fresh client keys per attestation.
  const { startKbs, adminKeygen, mintAdminToken, putResource, setResourcePolicy, setAttestationPolicy } = await import("../kbs/index.js");
  const { KbsClient, generateAttestedKeys } = await import("../attestation/agent/index.js");
  const { SampleAttester } = await import("../attestation/attesters/sample.js");
  const admin = await adminKeygen({ id: "bench" });
  const adminJwk = { ...admin.privateJwk, kid: admin.id };
  const kbsFor = async (config: Record<string, unknown>) => {
    const kbs = await startKbs(
      { listen: { host: "127.0.0.1", port: 0 }, masterKey: randomBytes(32).toString("base64"), admin: { keys: [{ id: admin.id, publicKey: admin.publicJwk as Record<string, unknown>, roles: ["admin"] }] }, rateLimit: { max: 1_000_000, windowMs: 60_000 }, ...config },
      { logger: pino({ level: "silent" }) },
    );
    const conn = { url: kbs.url, token: () => mintAdminToken(adminJwk, { keyId: admin.id }) };
    await putResource(conn, "bench/key/one", randomBytes(32));
    return { kbs, conn };
  };

  const sample = await kbsFor({ developmentMode: true });
  await setAttestationPolicy(sample.conn, "sample", { id: "bench", requireReferenceValues: false });
  await setResourcePolicy(sample.conn, "bench/key/one", { allowedTees: ["sample"] });
  const attester = new SampleAttester();
  const keys = await generateAttestedKeys();
  const sampleRate = await rate(seconds, async () => {
    await new KbsClient({ url: sample.kbs.url, attester, keys }).getResource("bench/key/one");
  });
  rows.push(["KBS auth+attest+resource, sample TEE (HTTP, PGlite)", sampleRate, "-"]);
  await sample.kbs.close();

  const { startSwtpm } = await import("../testing/swtpm.js");
  let tpm: Awaited<ReturnType<typeof startSwtpm>> | undefined;
  try {
    tpm = await startSwtpm();
  } catch (err) {
    console.log(`(TPM row skipped: ${messageOf(err)})`);
  }
  if (tpm) {
    const { TpmAttester } = await import("../attestation/attesters/tpm.js");
    const tpmAttester = new TpmAttester({ tcti: tpm.tcti, pcrCount: 8 });
    const ak = await tpmAttester.akPublic();
    const t = await kbsFor({ developmentMode: false, verifiers: { tpm: { trustedAkFingerprints: [ak.fingerprint] } } });
    await setAttestationPolicy(t.conn, "tpm", { id: "bench/swtpm", requireReferenceValues: false, unsafeClaims: [] });
    await setResourcePolicy(t.conn, "bench/key/one", { allowedTees: ["tpm"] });
    const quoteRate = await rate(seconds, () => tpmAttester.evidence(randomBytes(48)));
    const tpmRate = await rate(seconds, async () => {
      await new KbsClient({ url: t.kbs.url, attester: tpmAttester, keys }).getResource("bench/key/one");
    });
    rows.push(["swtpm quote alone (tpm2-tools: quote + pcrread)", quoteRate, "-"]);
    rows.push(["KBS auth+attest+resource, swtpm TPM quote", tpmRate, `${fmt(tpmRate / quoteRate, 2)}x of quote rate`]);
    await t.kbs.close();
    await tpm.dispose();
  }

  console.log(`attestation: best effort over ${seconds} s per row`);
  console.log("what                                                      | per second | ratio");
  for (const [what, r, ratio] of rows) console.log(`${what.padEnd(57)} | ${fmt(r).padStart(10)} | ${ratio}`);
}
