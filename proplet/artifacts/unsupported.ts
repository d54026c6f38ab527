/** A source this proplet is not set up for: a clear refusal. */
import type { ArtifactSourceKind } from "../../protocol/index.js";
import { ArtifactError } from "../errors.js";
import type { ArtifactSource } from "./source.js";

export function unsupportedSource<K extends ArtifactSourceKind>(kind: K): ArtifactSource<K> {
  return {
    kind,
    async fetch() {
      throw new ArtifactError("unsupported_artifact_source", `unsupported artifact source "${kind}": this proplet is not set up to fetch ${kind} artifacts`);
    },
  };
}
