/** Artifacts carried in the task message itself, base64-encoded. */
import { ArtifactError } from "../errors.js";
import type { ArtifactSource } from "./source.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const inlineSource: ArtifactSource<"inline"> = {
  kind: "inline",
  async fetch(location, { maxBytes }) {
    const { data } = location;
    // The decoded size is known from the text's length: refuse before decoding anything.
    const padding = data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0;
    const size = Math.floor((data.length * 3) / 4) - padding;
    if (size > maxBytes) {
      throw new ArtifactError("artifact_too_large", `the inline artifact is ${size} bytes; this proplet accepts at most ${maxBytes}`, { size, maxBytes });
    }
    if (data.length % 4 !== 0 || !BASE64.test(data)) {
      throw new ArtifactError("artifact_invalid", "the inline artifact is not valid base64");
    }
    return new Uint8Array(Buffer.from(data, "base64"));
  },
};
