import type { CheckList } from "../result.js";
import type { IsvTcbLevel, QeIdentity, TcbInfo, TcbLevel } from "./collateral.js";
import type { PckExtensions } from "./pck.js";
import type { SgxReport, TdReport } from "./quote.js";

/**
 * TDX TCB status from verified collateral, following Intel's DCAP Quote Verification Library
 * (the same algorithm go-tdx-guest and dcap-qvl implement):
 *
 * 1. FMSPC and PCE-ID of the PCK certificate must equal those of the TCB Info.
 * 2. TDX module identity: MRSIGNERSEAM and SEAMATTRIBUTES (under the mask) must equal `tdxModule`,
 *    or, when TEE_TCB_SVN[1] (the module major version) is > 0, the `tdxModuleIdentities` entry
 *    with id `TDX_<version as 2 hex digits>`.
 * 3. Platform level: the first TCB level (Intel lists them newest first) for which every SGX
 *    component SVN in the PCK certificate, the PCESVN, and every TEE_TCB_SVN byte are >= the level's.
 *    When TEE_TCB_SVN[1] > 0, bytes 0 and 1 (module SVN and version) are not compared here: they
 *    are judged by the module identity's own levels (step 4).
 * 4. Module level (TEE_TCB_SVN[1] > 0): the first level of that identity with isvsvn <= TEE_TCB_SVN[0].
 * 5. QE: MRSIGNER, ISVPRODID, MISCSELECT and ATTRIBUTES (masked) of the QE report must equal the
 *    TD_QE identity; its level is the first with isvsvn <= the QE's ISVSVN.
 * 6. The statuses converge (see `converge`), and advisory ids are the union.
 */

export const TCB_STATUSES = [
  "UpToDate",
  "SWHardeningNeeded",
  "ConfigurationNeeded",
  "ConfigurationAndSWHardeningNeeded",
  "OutOfDate",
  "OutOfDateConfigurationNeeded",
  "Revoked",
] as const;
export type TcbStatus = (typeof TCB_STATUSES)[number];
/** No TCB level of the collateral covers this platform (older than anything Intel lists). */
export const NO_MATCHING_TCB_LEVEL = "NoMatchingTcbLevel";
export type TcbOutcome = TcbStatus | typeof NO_MATCHING_TCB_LEVEL;

export function isTcbStatus(s: string): s is TcbStatus {
  return (TCB_STATUSES as readonly string[]).includes(s);
}

interface Flags {
  revoked: boolean;
  outOfDate: boolean;
  configuration: boolean;
  swHardening: boolean;
}

function flags(s: TcbStatus): Flags {
  return {
    revoked: s === "Revoked",
    outOfDate: s === "OutOfDate" || s === "OutOfDateConfigurationNeeded",
    configuration: s === "ConfigurationNeeded" || s === "ConfigurationAndSWHardeningNeeded" || s === "OutOfDateConfigurationNeeded",
    swHardening: s === "SWHardeningNeeded" || s === "ConfigurationAndSWHardeningNeeded",
  };
}

/**
 * Combine two statuses the way Intel's QVL converges the platform status with the TDX module and
 * QE statuses: each status is a set of conditions (out of date, configuration needed, SW hardening
 * needed, revoked); the result has every condition of either, with Revoked dominating and
 * "out of date" absorbing "SW hardening needed" (Intel has no OutOfDateSWHardeningNeeded).
 * E.g. platform ConfigurationNeeded + QE OutOfDate → OutOfDateConfigurationNeeded.
 */
export function converge(a: TcbStatus, b: TcbStatus): TcbStatus {
  const x = flags(a);
  const y = flags(b);
  if (x.revoked || y.revoked) return "Revoked";
  const ood = x.outOfDate || y.outOfDate;
  const cfg = x.configuration || y.configuration;
  const sw = x.swHardening || y.swHardening;
  if (ood) return cfg ? "OutOfDateConfigurationNeeded" : "OutOfDate";
  if (cfg) return sw ? "ConfigurationAndSWHardeningNeeded" : "ConfigurationNeeded";
  return sw ? "SWHardeningNeeded" : "UpToDate";
}

export interface LevelResult {
  status: TcbStatus;
  advisoryIds: string[];
  tcbDate: string;
}

export interface TcbEvaluation {
  status: TcbOutcome;
  advisoryIds: string[];
  platform?: LevelResult;
  module?: LevelResult & { id: string };
  qe?: LevelResult;
  tcbEvaluationDataNumber: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const eqHex = (b: Uint8Array, h: string): boolean => hex(b) === h.toLowerCase();

function maskedEqual(actual: Uint8Array, expectedHex: string, maskHex: string): boolean {
  const expected = Buffer.from(expectedHex, "hex");
  const mask = Buffer.from(maskHex, "hex");
  if (expected.length !== actual.length || mask.length !== actual.length) return false;
  for (let i = 0; i < actual.length; i++) {
    if ((actual[i]! & mask[i]!) !== (expected[i]! & mask[i]!)) return false;
  }
  return true;
}

function level(l: TcbLevel | IsvTcbLevel, checks: CheckList, name: string): LevelResult | undefined {
  if (!isTcbStatus(l.tcbStatus)) {
    checks.fail(name, `unrecognised TCB status "${l.tcbStatus}"`);
    return undefined;
  }
  return { status: l.tcbStatus, advisoryIds: l.advisoryIDs ?? [], tcbDate: l.tcbDate };
}

export function matchPlatformLevel(tcbInfo: TcbInfo, pck: PckExtensions, teeTcbSvn: Uint8Array): TcbLevel | undefined {
  const skipModule = teeTcbSvn[1]! > 0;
  return tcbInfo.tcbLevels.find(
    (l) =>
      l.tcb.sgxtcbcomponents.every((c, i) => pck.tcbComponents[i]! >= c.svn) &&
      pck.pceSvn >= l.tcb.pcesvn &&
      l.tcb.tdxtcbcomponents.every((c, i) => (skipModule && i < 2) || teeTcbSvn[i]! >= c.svn),
  );
}

export interface TcbInputs {
  tcbInfo: TcbInfo;
  qeIdentity: QeIdentity;
  pck: PckExtensions;
  body: TdReport;
  qeReport: SgxReport;
}

export function evaluateTcb({ tcbInfo, qeIdentity, pck, body, qeReport }: TcbInputs, checks: CheckList): TcbEvaluation {
  const evaluation: TcbEvaluation = {
    status: NO_MATCHING_TCB_LEVEL,
    advisoryIds: [],
    tcbEvaluationDataNumber: tcbInfo.tcbEvaluationDataNumber,
  };
  const fmspcOk = eqHex(pck.fmspc, tcbInfo.fmspc);
  checks.add("tdx.tcb.fmspc", fmspcOk, fmspcOk ? `FMSPC ${hex(pck.fmspc)}` : `PCK FMSPC ${hex(pck.fmspc)} ≠ TCB Info FMSPC ${tcbInfo.fmspc}`);
  const pceOk = eqHex(pck.pceId, tcbInfo.pceId);
  checks.add("tdx.tcb.pce_id", pceOk, pceOk ? `PCE-ID ${hex(pck.pceId)}` : `PCK PCE-ID ${hex(pck.pceId)} ≠ TCB Info PCE-ID ${tcbInfo.pceId}`);

  // Module identity.
  const svn = body.teeTcbSvn;
  const moduleVersion = svn[1]!;
  let identity: { id: string; mrsigner: string; attributes: string; attributesMask: string; tcbLevels?: IsvTcbLevel[] } = {
    id: "tdxModule",
    ...tcbInfo.tdxModule,
  };
  let identityFound = true;
  if (moduleVersion > 0) {
    const wanted = `TDX_${moduleVersion.toString(16).padStart(2, "0").toUpperCase()}`;
    const found = (tcbInfo.tdxModuleIdentities ?? []).find((m) => m.id.toUpperCase() === wanted);
    if (found) identity = found;
    else {
      identityFound = false;
      checks.fail("tdx.tcb.module_identity", `TCB Info has no TDX module identity ${wanted}`);
    }
  }
  if (identityFound) {
    const signerOk = eqHex(body.mrSignerSeam, identity.mrsigner);
    const attrsOk = maskedEqual(body.seamAttributes, identity.attributes, identity.attributesMask);
    checks.add(
      "tdx.tcb.module_identity",
      signerOk && attrsOk,
      !signerOk ? `MRSIGNERSEAM ${hex(body.mrSignerSeam)} ≠ ${identity.id} mrsigner` : !attrsOk ? `SEAMATTRIBUTES ${hex(body.seamAttributes)} ≠ ${identity.id} attributes under mask` : `TDX module ${identity.id}`,
    );
  }

  // Platform level.
  const platformLevel = matchPlatformLevel(tcbInfo, pck, svn);
  if (!platformLevel) {
    checks.fail(
      "tdx.tcb.level",
      `no matching TCB level found (SGX components ${pck.tcbComponents.join(",")}, PCESVN ${pck.pceSvn}, TEE_TCB_SVN ${hex(svn)})`,
    );
  } else {
    evaluation.platform = level(platformLevel, checks, "tdx.tcb.level");
    if (evaluation.platform) {
      checks.pass("tdx.tcb.level", `platform TCB level ${evaluation.platform.tcbDate}: ${evaluation.platform.status}`);
    }
  }

  // Module level.
  let moduleOk = true;
  if (moduleVersion > 0 && identityFound) {
    const levels = identity.tcbLevels ?? [];
    const m = levels.find((l) => svn[0]! >= l.tcb.isvsvn);
    if (!m) {
      moduleOk = checks.fail("tdx.tcb.module_level", `TDX module ISVSVN ${svn[0]} is below every ${identity.id} TCB level`);
    } else {
      const r = level(m, checks, "tdx.tcb.module_level");
      if (r) {
        evaluation.module = { ...r, id: identity.id };
        checks.pass("tdx.tcb.module_level", `${identity.id} ISVSVN ${svn[0]}: ${r.status}`);
      } else moduleOk = false;
    }
  } else if (moduleVersion > 0) moduleOk = false;

  // Quoting Enclave.
  const qeMismatch: string[] = [];
  if (!eqHex(qeReport.mrSigner, qeIdentity.mrsigner)) qeMismatch.push("MRSIGNER");
  if (qeReport.isvProdId !== qeIdentity.isvprodid) qeMismatch.push("ISVPRODID");
  const misc = Buffer.alloc(4);
  misc.writeUInt32LE(qeReport.miscSelect);
  // MISCSELECT is a little-endian u32 in the report; Intel writes the identity value as big-endian hex.
  if (!maskedEqual(Buffer.from(misc).reverse(), qeIdentity.miscselect, qeIdentity.miscselectMask)) qeMismatch.push("MISCSELECT");
  if (!maskedEqual(qeReport.attributes, qeIdentity.attributes, qeIdentity.attributesMask)) qeMismatch.push("ATTRIBUTES");
  checks.add(
    "tdx.qe_identity.match",
    qeMismatch.length === 0,
    qeMismatch.length === 0 ? "QE report matches the TD_QE identity" : `QE report ${qeMismatch.join(", ")} differ from the TD_QE identity`,
  );
  const qeLevel = qeIdentity.tcbLevels.find((l) => qeReport.isvSvn >= l.tcb.isvsvn);
  if (!qeLevel) checks.fail("tdx.qe_identity.level", `QE ISVSVN ${qeReport.isvSvn} is below every TD_QE TCB level`);
  else {
    evaluation.qe = level(qeLevel, checks, "tdx.qe_identity.level");
    if (evaluation.qe) checks.pass("tdx.qe_identity.level", `QE ISVSVN ${qeReport.isvSvn}: ${evaluation.qe.status}`);
  }

  if (evaluation.platform && evaluation.qe && moduleOk) {
    let status = evaluation.platform.status;
    if (evaluation.module) status = converge(status, evaluation.module.status);
    evaluation.status = converge(status, evaluation.qe.status);
  }
  evaluation.advisoryIds = [
    ...new Set([...(evaluation.platform?.advisoryIds ?? []), ...(evaluation.module?.advisoryIds ?? []), ...(evaluation.qe?.advisoryIds ?? [])]),
  ].sort();
  return evaluation;
}
