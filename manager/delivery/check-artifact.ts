/** Checks a task's artifact at the boundary: inline bytes against their digest, URLs by scheme and shape. */
import { LIMITS, sha256Digest, type Digest } from "../../protocol/index.js";
import { InvalidRequestError } from "../errors.js";
import { MAX_URL_LENGTH } from "../../protocol/api/index.js";
import type { ArtifactSpec } from "../tasks/model.js";

export type ArtifactInput = { digest: string; inline: string } | { digest: string; url: string };

export interface CheckedArtifact {
  spec: ArtifactSpec;
  /** The decoded bytes of an inline artifact, to be stored by digest. */
  bytes?: Buffer;
}

export function checkArtifact(input: ArtifactInput): CheckedArtifact {
  if ("inline" in input) {
    const bytes = Buffer.from(input.inline, "base64");
    // Buffer.from ignores malformed tails; a re-encoding that differs means the text was not canonical base64.
    if (bytes.toString("base64") !== input.inline) {
      throw new InvalidRequestError("invalid_base64", "artifact.inline is not canonical base64");
    }
    if (bytes.byteLength === 0) throw new InvalidRequestError("empty_artifact", "artifact.inline is empty");
    if (bytes.byteLength > LIMITS.inlineArtifactBytes) {
      throw new InvalidRequestError("too_large", `inline artifact of ${bytes.byteLength} bytes exceeds ${LIMITS.inlineArtifactBytes}`);
    }
    const actual: Digest = sha256Digest(bytes);
    if (actual !== input.digest) {
      throw new InvalidRequestError("digest_mismatch", `artifact digest mismatch: declared ${input.digest}, content hashes to ${actual}`, {
        expected: input.digest,
        actual,
      });
    }
    return { spec: { digest: input.digest, size: bytes.byteLength, location: "inline" }, bytes };
  }
  return { spec: { digest: input.digest, size: null, location: "http", url: checkArtifactUrl(input.url) } };
}

/** http(s) only, a host, no credentials (they would be echoed in every Task), bounded length. */
export function checkArtifactUrl(raw: string): string {
  if (raw.length > MAX_URL_LENGTH) throw new InvalidRequestError("invalid_url", `artifact.url is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidRequestError("invalid_url", "artifact.url is not a valid absolute URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidRequestError("invalid_url", `artifact.url must use http or https, not ${url.protocol.replace(/:$/, "")}`);
  }
  if (url.hostname === "") throw new InvalidRequestError("invalid_url", "artifact.url has no host");
  if (url.username !== "" || url.password !== "") {
    throw new InvalidRequestError("invalid_url", "artifact.url must not carry credentials");
  }
  return url.toString();
}
