import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { ATTESTATION_TEES, verifiableTees, type Check, type VerificationResult } from "../../attestation/index.js";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";
import { messageOf } from "../../lib/errors.js";

type Status = "affirming" | "warning" | "contraindicated";

interface Report {
  tee: string;
  /** Every verification (signature, chain, binding) and appraisal (policy) check passed. */
  verified: boolean;
  status: Status;
  at: string;
  claims: unknown;
  failed: Check[];
  checks: Check[];
}

/** The TEEs with a verifier (attestation/tees.ts), development-only ones last. */
const TEES: readonly string[] = [...verifiableTees().filter((t) => !ATTESTATION_TEES[t].developmentOnly), ...verifiableTees().filter((t) => ATTESTATION_TEES[t].developmentOnly)];

/**
 * `propeller attestation verify --tee T --evidence FILE [--cert FILE]... [--collateral FILE]...
 *  [--at ISO-TIME] [--report-data HEX] [--allow-debug] [--vmpl N]... [--trusted-ak FP]... [--no-crl]`
 * Verifies one piece of evidence offline; prints claims, status and every failed check as JSON;
 * exit 0 only when it verified.
 */
export async function attestationCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "verify") throw new UsageError(`unknown attestation command "${sub ?? ""}": use verify`);
  const { values } = parse(
    "attestation verify",
    rest,
    {
      tee: { type: "string" },
      evidence: { type: "string" },
      cert: { type: "string", multiple: true },
      collateral: { type: "string", multiple: true },
      at: { type: "string" },
      "report-data": { type: "string" },
      "allow-debug": { type: "boolean" },
      vmpl: { type: "string", multiple: true },
      "trusted-ak": { type: "string", multiple: true },
      "no-crl": { type: "boolean" },
      // The report is always JSON; accepted so every command takes --json.
      json: { type: "boolean" },
    },
    false,
  );
  const tee = values.tee;
  if (!tee || !TEES.includes(tee)) throw new UsageError(`--tee is one of ${TEES.join(", ")}`);
  if (!values.evidence) throw new UsageError("--evidence FILE is required");
  const now = values.at ? new Date(values.at) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError(`--at "${values.at}" is not an ISO time (e.g. 2024-01-01T00:00:00Z)`);
  let reportData: Buffer | undefined;
  if (values["report-data"] !== undefined) {
    if (!/^([0-9a-fA-F]{2}){1,64}$/.test(values["report-data"])) throw new UsageError("--report-data is 1 to 64 bytes of hex");
    reportData = Buffer.from(values["report-data"], "hex");
  }
  const evidence = await readInput(values.evidence, "--evidence");
  const certs = await Promise.all((values.cert ?? []).map((f) => readInput(f, "--cert")));
  const collateral = await Promise.all((values.collateral ?? []).map(async (f) => ({ name: basename(f), bytes: await readInput(f, "--collateral") })));
  const vmpls = (values.vmpl ?? []).map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 3) throw new UsageError(`--vmpl takes 0 to 3, got "${v}"`);
    return n;
  });

  let result: VerificationResult;
  let appraisal: { status: Status; checks: Check[] } | undefined;
  try {
    switch (tee) {
      case "snp": {
        const snp = await import("../../attestation/snp/index.js");
        const decoded = snp.readSnpEvidenceFile(evidence);
        const vek = certs[0] ?? decoded.certs.vcek ?? decoded.certs.vlek;
        const chains = [...certs.slice(1), ...[decoded.certs.ask, decoded.certs.ark].filter((c): c is Buffer => c !== undefined)];
        const verified = await snp.verifySnpReport(decoded.report, { ...(vek ? { vek } : {}), ...(chains.length ? { chains } : {}), now, ...(reportData ? { reportData } : {}) });
        result = verified;
        const a = snp.appraiseSnpClaims(verified.claims, { ...(values["allow-debug"] ? { allowDebug: true } : {}), ...(vmpls.length ? { allowedVmpls: vmpls } : {}) });
        appraisal = { status: a.status, checks: a.checks };
        break;
      }
      case "tdx": {
        const tdx = await import("../../attestation/tdx/index.js");
        const quote = tdx.quoteFromEvidenceFile(evidence);
        const verification = await tdx.verifyTdxQuote(quote, {
          ...(collateral.length ? { collateral: tdx.collateralFromFiles(collateral) } : {}),
          now,
          ...(reportData ? { reportData } : {}),
          requireCrls: !values["no-crl"],
        });
        result = verification.result;
        const a = tdx.appraiseTdx(verification.result, values["allow-debug"] ? { allowDebug: true } : {});
        appraisal = { status: a.status, checks: a.checks };
        break;
      }
      case "tpm": {
        const { TpmVerifier } = await import("../../attestation/tpm/index.js");
        const trusted = values["trusted-ak"] ?? [];
        const verifier = new TpmVerifier(trusted.length ? { trustedAkFingerprints: trusted } : { acceptAnyAk: true });
        result = await verifier.verify(parseJson(evidence), { now, ...(reportData ? { reportData } : {}) });
        break;
      }
      case "az-snp-vtpm": {
        const { AzSnpVtpmVerifier } = await import("../../attestation/az-snp-vtpm/index.js");
        const { appraiseTeePolicy, validateTeePolicy } = await import("../../attestation/appraisal/index.js");
        const policy = validateTeePolicy("az-snp-vtpm", { ...(values["allow-debug"] ? { allowDebug: true } : {}), ...(vmpls.length ? { allowedVmpls: vmpls } : {}) });
        result = appraiseTeePolicy(await new AzSnpVtpmVerifier().verify(parseJson(evidence), { now, ...(reportData ? { reportData } : {}) }), policy);
        break;
      }
      default: {
        const { SampleVerifier } = await import("../../attestation/sample/index.js");
        result = await new SampleVerifier().verify(parseJson(evidence), { now, ...(reportData ? { reportData } : {}) });
        break;
      }
    }
  } catch (err) {
    const e = err as { code?: string; message: string };
    const report: Report = { tee, verified: false, status: "contraindicated", at: now.toISOString(), claims: null, failed: [{ name: e.code ?? "error", ok: false, detail: e.message }], checks: [] };
    io.out(JSON.stringify(report, null, 2));
    return 1;
  }

  const checks = [...result.checks, ...(appraisal?.checks ?? [])];
  const failed = checks.filter((c) => !c.ok);
  const status: Status = !result.ok ? "contraindicated" : (appraisal?.status ?? (failed.length ? "contraindicated" : "affirming"));
  const report: Report = { tee, verified: failed.length === 0, status, at: now.toISOString(), claims: result.claims, failed, checks };
  io.out(JSON.stringify(report, null, 2));
  return report.verified ? 0 : 1;
}

async function readInput(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? messageOf(err)}`);
  }
}

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new UsageError(`the evidence is not JSON: ${messageOf(err)}`);
  }
}
