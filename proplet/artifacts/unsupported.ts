/** Sources this proplet does not implement yet (OCI registries, chunked MQTT): a clear refusal. */
import type { ArtifactSourceKind } from "../../protocol/index.js";
import { ArtifactError } from "../errors.js";
import type { ArtifactSource } from "./source.js";

export function unsupportedSource<K extends ArtifactSourceKind>(kind: K): ArtifactSource<K> {
  return {
    kind,
    async fetch() {
      throw new ArtifactError("unsupported_artifact_source", `unsupported artifact source "${kind}": this proplet fetches inline and http artifacts only`);
    },
  };
}
