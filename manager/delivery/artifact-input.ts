/**
 * A task's `artifact` as the REST API takes it → the artifact spec the task stores. Inline and
 * http artifacts are checked by check-artifact.ts; this adds the two delivery paths of
 * manager/delivery: OCI references and bytes the manager delivers in chunks over MQTT.
 *
 * OCI decision: without a `digest`, the manager reads the manifest at create time and pins the
 * task to `registry/repo@sha256:<manifest>` with the Wasm layer's digest and size. Why:
 * - the layer digest is what the run's receipt must name and what the manager checks it against
 *   (protocol/receipt): it has to be known before the run, not learnt from the proplet;
 * - a tag that moves after the task was created cannot change what the task runs (every retry and
 *   every proplet runs the same bytes), and a typo or a missing image fails the create (400)
 *   instead of a run minutes later;
 * - pinned by digest, a proplet that has the layer cached starts without any registry request.
 * With a `digest` (the layer's), the manager asks no registry (it may have no route or credentials
 * to it); the proplet pulls the reference as given and refuses a layer with another digest.
 */
import type { Static } from "@sinclair/typebox";
import { LIMITS, PropellerError } from "../../protocol/index.js";
import { createOciClient, formatReference, parseReference, resolveWasm, type OciClient } from "../../oci/index.js";
import type { SqlExecutor } from "../../db/index.js";
import { InvalidRequestError } from "../errors.js";
import type { ArtifactInput } from "../../protocol/api/index.js";
import { checkArtifact, type CheckedArtifact } from "./check-artifact.js";
import type { DeliveryConfig } from "./config.js";
import { artifactInfo } from "./store.js";
import { messageOf } from "../../lib/errors.js";

export type TaskArtifactInput = Static<typeof ArtifactInput>;

export interface ArtifactResolver {
  resolve(db: SqlExecutor, input: TaskArtifactInput): Promise<CheckedArtifact>;
}

export function createArtifactResolver(config: DeliveryConfig): ArtifactResolver {
  const credentials = new Map(Object.entries(config.oci.credentials));
  let client: OciClient | undefined;
  const oci = () =>
    (client ??= createOciClient({ insecureRegistries: config.oci.insecureRegistries, credentials: (host) => credentials.get(host), timeoutMs: config.oci.timeoutMs, maxDurationMs: config.oci.timeoutMs * 2 }));
  return {
    async resolve(db, input) {
      if ("oci" in input) return resolveOci(input, oci);
      if ("delivery" in input) return resolveStored(db, input);
      return checkArtifact(input);
    },
  };
}

async function resolveOci(input: { oci: string; digest?: string }, client: () => OciClient): Promise<CheckedArtifact> {
  let reference;
  try {
    reference = parseReference(input.oci);
  } catch (err) {
    throw new InvalidRequestError("invalid_reference", `artifact.oci: ${messageOf(err)}`);
  }
  if (input.digest !== undefined) {
    return { spec: { digest: input.digest, size: null, location: "oci", reference: formatReference(reference) } };
  }
  try {
    const resolved = await resolveWasm(reference, { client: client() });
    if (resolved.size > LIMITS.maxArtifactBytes) throw new InvalidRequestError("too_large", `${input.oci}: the Wasm layer is ${resolved.size} bytes`);
    return { spec: { digest: resolved.digest, size: resolved.size, location: "oci", reference: resolved.pinned } };
  } catch (err) {
    if (err instanceof InvalidRequestError) throw err;
    const code = err instanceof PropellerError ? err.code : "oci_unreachable";
    throw new InvalidRequestError(
      code,
      `could not resolve ${formatReference(reference)} to a Wasm artifact: ${messageOf(err)}. Check the reference and the manager's registry settings (delivery.oci), or give artifact.digest (the Wasm layer's) to let the proplet resolve it`,
    );
  }
}

async function resolveStored(db: SqlExecutor, input: { digest: string; inline?: string; delivery: "mqtt" }): Promise<CheckedArtifact> {
  if (input.inline !== undefined) {
    const checked = checkArtifact({ digest: input.digest, inline: input.inline });
    return { ...checked, spec: { ...checked.spec, location: "mqtt" } };
  }
  const stored = await artifactInfo(db, input.digest);
  if (!stored || stored.size === 0) {
    throw new InvalidRequestError("artifact_not_stored", `the manager holds no artifact ${input.digest}: upload it first with PUT /artifacts/${input.digest} (or give artifact.inline)`);
  }
  return { spec: { digest: input.digest, size: stored.size, location: "mqtt" } };
}
