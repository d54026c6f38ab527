import type { Logger } from "pino";
import { PropellerError } from "../protocol/errors.js";
import type { Verifier } from "./verifier.js";
import { messageOf } from "../lib/errors.js";

/** No verifier is available for a TEE (not written yet, not built, or its module failed to load). */
export class UnsupportedTeeError extends PropellerError {
  constructor(tee: string, reason: string) {
    super("unsupported_tee", `unsupported TEE "${tee}": ${reason}`, { tee });
  }
}

/**
 * Where each TEE's verifier lives and what its class is called. Loaded by dynamic import, so a
 * verifier that is missing (or broken) makes only its TEE unsupported, never the whole KBS.
 * Each module exports a class `new (options) => Verifier`.
 */
const MODULES: Record<string, { module: string; exportName: string }> = {
  sample: { module: "./sample/index.js", exportName: "SampleVerifier" },
  snp: { module: "./snp/index.js", exportName: "SnpVerifier" },
  tdx: { module: "./tdx/index.js", exportName: "TdxVerifier" },
  tpm: { module: "./tpm/index.js", exportName: "TpmVerifier" },
  "az-snp-vtpm": { module: "./az-snp-vtpm/index.js", exportName: "AzSnpVtpmVerifier" },
};

export function knownTees(): string[] {
  return Object.keys(MODULES);
}

type VerifierClass = new (options?: Record<string, unknown>) => Verifier;

/**
 * Instantiates the verifier for `tee` with `options` (the KBS's per-TEE verifier options), or
 * throws UnsupportedTeeError saying why. Falls back to any exported `…Verifier` class whose
 * instances have a matching `tee`, so a renamed export still loads.
 */
export async function loadVerifier(tee: string, options: Record<string, unknown> = {}, logger?: Logger): Promise<Verifier> {
  const entry = Object.prototype.hasOwnProperty.call(MODULES, tee) ? MODULES[tee] : undefined;
  if (!entry) throw new UnsupportedTeeError(tee, `no verifier is registered (supported: ${knownTees().join(", ")})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(entry.module)) as Record<string, unknown>;
  } catch (err) {
    logger?.warn({ tee, err: messageOf(err) }, "verifier module could not be loaded");
    throw new UnsupportedTeeError(tee, `its verifier module is not available (${messageOf(err).split("\n")[0]})`);
  }
  const candidates = [mod[entry.exportName], ...Object.entries(mod).filter(([name]) => name.endsWith("Verifier") && name !== entry.exportName).map(([, v]) => v)];
  for (const candidate of candidates) {
    if (typeof candidate !== "function" || typeof (candidate as { prototype?: { verify?: unknown } }).prototype?.verify !== "function") continue;
    const verifier = new (candidate as VerifierClass)(options);
    if (verifier.tee === tee) return verifier;
  }
  throw new UnsupportedTeeError(tee, `its module exports no ${entry.exportName} class`);
}
