import { readFile, stat } from "node:fs/promises";
import { isDigest } from "../../protocol/digest.js";
import { LIMITS } from "../../protocol/limits.js";
import { OciManifestError, OciReferenceError } from "../../oci/index.js";
import { parseReference } from "../../oci/index.js";
import { pushWasm, type EncryptedInfo } from "../../oci/index.js";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";

export interface PushInput {
  /** Where `--password-stdin` reads from (default: process.stdin). */
  stdin?: AsyncIterable<Buffer | string>;
}

const MAX_PASSWORD_BYTES = 4096;

/**
 * `propeller push app.wasm registry[:port]/repo:tag [--insecure] [--username U --password-stdin]
 *   [--encrypted-for kbs:///repo/type/tag --plaintext-digest sha256:…] [--json]`
 * Pushes a Wasm module or component (or an age-encrypted one) as a CNCF Wasm OCI artifact and
 * prints the pinned reference `registry/repo@sha256:…`.
 */
export async function pushCommand(argv: string[], io: Output, input: PushInput = {}): Promise<number> {
  const { values, positionals } = parse("push", argv, {
    insecure: { type: "boolean" },
    username: { type: "string" },
    "password-stdin": { type: "boolean" },
    "encrypted-for": { type: "string" },
    "plaintext-digest": { type: "string" },
    json: { type: "boolean" },
  });
  const [file, refText] = positionals;
  if (!file || !refText || positionals.length > 2) throw new UsageError("push takes a file and a reference: propeller push app.wasm registry[:port]/repo:tag");
  let ref;
  try {
    ref = parseReference(refText);
  } catch (err) {
    if (err instanceof OciReferenceError) throw new UsageError(`push: ${err.message}`);
    throw err;
  }
  if (ref.tag === undefined || ref.digest !== undefined) throw new UsageError("push: the reference takes a tag and no digest (the digest is what push prints)");

  if ((values.username === undefined) !== (values["password-stdin"] !== true)) {
    throw new UsageError("push: --username and --password-stdin go together (the password is read from stdin, never from a flag)");
  }
  let encrypted: EncryptedInfo | undefined;
  if ((values["encrypted-for"] === undefined) !== (values["plaintext-digest"] === undefined)) {
    throw new UsageError("push: --encrypted-for and --plaintext-digest go together");
  }
  if (values["encrypted-for"] !== undefined) {
    const digest = values["plaintext-digest"]!;
    if (!isDigest(digest)) throw new UsageError("push: --plaintext-digest takes sha256:<64 lower-case hex digits>");
    encrypted = { kbsResource: values["encrypted-for"], plaintextDigest: digest };
  }

  const size = await stat(file).then((s) => (s.isFile() ? s.size : -1), () => -1);
  if (size < 0) throw new UsageError(`push: cannot read ${file}`);
  if (size > LIMITS.artifactBytes) throw new UsageError(`push: ${file} is ${size} bytes, over the ${LIMITS.artifactBytes}-byte artifact limit`);
  const bytes = new Uint8Array(await readFile(file));
  const looksAge = Buffer.from(bytes.subarray(0, 22)).toString("latin1") === "age-encryption.org/v1\n";
  if (looksAge && !encrypted) throw new UsageError(`push: ${file} is an age file: pass --encrypted-for kbs:///… and --plaintext-digest sha256:…`);

  const password = values["password-stdin"] ? await readPassword(input.stdin ?? process.stdin) : undefined;
  const creds = values.username !== undefined && password !== undefined ? { username: values.username, password } : undefined;
  try {
    const pushed = await pushWasm(ref, bytes, {
      ...(values.insecure ? { insecureRegistries: [ref.registry] } : {}),
      ...(creds ? { credentials: (registry: string) => (registry === ref.registry ? creds : undefined) } : {}),
      ...(encrypted ? { encrypted } : {}),
      title: file.split(/[\\/]/).pop() ?? file,
    });
    if (values.json) io.out(JSON.stringify(pushed, null, 2));
    else io.out(pushed.pinned);
    return 0;
  } catch (err) {
    if (err instanceof OciManifestError || err instanceof OciReferenceError) throw new UsageError(`push: ${err.message}`);
    throw err;
  }
}

async function readPassword(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  let text = "";
  for await (const chunk of stdin) {
    text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    if (Buffer.byteLength(text) > MAX_PASSWORD_BYTES) throw new UsageError("push: the password on stdin is too long");
  }
  const password = text.replace(/\r?\n$/, "");
  if (!password) throw new UsageError("push: --password-stdin read an empty password");
  return password;
}
