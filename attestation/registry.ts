import type { Logger } from "pino";
import { PropellerError } from "../protocol/errors.js";
import type { Verifier } from "./verifier.js";
import { messageOf } from "../lib/errors.js";
import { attestationTee, verifiableTees } from "./tees.js";

/** No verifier is available for a TEE (not written yet, not built, or its module failed to load). */
export class UnsupportedTeeError extends PropellerError {
  constructor(tee: string, reason: string) {
    super("unsupported_tee", `unsupported TEE "${tee}": ${reason}`, { tee });
  }
}

/** TEEs with a verifier (attestation/tees.ts), in TEE_TYPES order. */
export function knownTees(): string[] {
  return verifiableTees();
}

type VerifierClass = new (options?: Record<string, unknown>) => Verifier;

/**
 * Instantiates the verifier for `tee` with `options` (the KBS's per-TEE verifier options), or
 * throws UnsupportedTeeError saying why. Falls back to any exported `…Verifier` class whose
 * instances have a matching `tee`, so a renamed export still loads.
 */
export async function loadVerifier(tee: string, options: Record<string, unknown> = {}, logger?: Logger): Promise<Verifier> {
  const entry = attestationTee(tee)?.verifier;
  if (!entry) throw new UnsupportedTeeError(tee, `no verifier is registered (supported: ${knownTees().join(", ")})`);
  let mod: Record<string, unknown>;
  try {
    mod = await entry.load();
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
