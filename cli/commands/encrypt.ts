import { readFile, writeFile } from "node:fs/promises";
import { encryptWorkload } from "../../protocol/workload-encryption.js";
import { isTeeType, KBS_RESOURCE_URI_PREFIX, TEE_TYPES } from "../../protocol/index.js";
import { parse } from "../args.js";
import { UsageError } from "../errors.js";
import type { Output } from "../output.js";
import { access } from "node:fs/promises";
import { refuseExistingResource } from "../confidential.js";
import { adminConnection } from "./kbs.js";
import { messageOf } from "../../lib/errors.js";
import { clientEnv } from "../client-env.js";

/**
 * `propeller encrypt app.wasm [--out FILE] --kbs URL --resource repo/type/tag (--policy FILE | --tee T)
 *   [--admin-key F | --admin-token T] [--identity-out FILE] [--json]`
 * Generates an age X25519 identity, writes app.wasm.age (the `age` tool opens it with that
 * identity), stores the identity in the KBS as the resource with its policy, and prints the
 * plaintext and ciphertext digests. The identity is never written to disk unless --identity-out.
 */
export async function encryptCommand(argv: string[], io: Output): Promise<number> {
  const { values, positionals } = parse("encrypt", argv, {
    out: { type: "string" },
    kbs: { type: "string" },
    resource: { type: "string" },
    policy: { type: "string" },
    tee: { type: "string" },
    "admin-key": { type: "string" },
    "admin-token": { type: "string" },
    "identity-out": { type: "string" },
    "state-dir": { type: "string" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  });
  const input = positionals[0];
  if (!input || positionals.length > 1) throw new UsageError("encrypt takes one Wasm file");
  const toKbs = values.kbs !== undefined || clientEnv().kbsUrl !== undefined || values.resource !== undefined;
  if (!toKbs && !values["identity-out"]) {
    throw new UsageError("where should the key go? give --kbs URL --resource repo/type/tag (the KBS keeps it), or --identity-out FILE");
  }
  let policy: unknown;
  if (toKbs) {
    if (!values.resource) throw new UsageError("--resource repo/type/tag names the KBS resource that will hold the key");
    if (values.policy) {
      const text = await readFile(values.policy, "utf8").catch(() => {
        throw new UsageError(`cannot read --policy ${values.policy}`);
      });
      try {
        policy = JSON.parse(text);
      } catch (err) {
        throw new UsageError(`--policy ${values.policy} is not JSON: ${messageOf(err)}`);
      }
    } else if (values.tee) {
      if (!isTeeType(values.tee)) throw new UsageError(`--tee is one of ${TEE_TYPES.join(", ")}`);
      policy = { description: `released to ${values.tee} TEEs whose attestation is affirming`, allowedTees: [values.tee], requiredStatus: "affirming" };
    } else {
      throw new UsageError("the KBS releases nothing without a policy: give --policy FILE or --tee T (e.g. --tee snp)");
    }
  }

  const plaintext = await readFile(input).catch(() => {
    throw new UsageError(`cannot read ${input}`);
  });
  if (plaintext.subarray(0, 4).toString("latin1") !== "\0asm") throw new UsageError(`${input} is not a WebAssembly binary (no \\0asm magic)`);
  const out = values.out ?? `${input}.age`;
  // Nothing is stored or written until every destination is known to be free: a failure half way
  // would otherwise leave a key without its ciphertext, or a ciphertext without its key.
  for (const target of [out, values["identity-out"]]) {
    if (target === undefined || (values.force && target === out)) continue;
    if (await access(target).then(() => true, () => false)) throw new UsageError(`${target} exists; choose another path${target === out ? " (--out) or pass --force" : ""}`);
  }
  const enc = await encryptWorkload(plaintext);

  let resource: string | undefined;
  let kbsUrl: string | null = null;
  if (toKbs) {
    // Store the key (and its policy) first: a ciphertext whose key never reached the KBS is useless.
    const kbs = await import("../../kbs/index.js");
    const conn = await adminConnection(values);
    kbsUrl = conn.url;
    const parsedPolicy = kbs.parseResourcePolicy(policy);
    if (!values.force) await refuseExistingResource(conn, kbs.adminResourcePath(values.resource!));
    await kbs.putResource(conn, values.resource!, Buffer.from(enc.identity));
    await kbs.setResourcePolicy(conn, values.resource!, parsedPolicy);
    resource = `${KBS_RESOURCE_URI_PREFIX}${kbs.adminResourcePath(values.resource!)}`;
  }
  // The key first: a ciphertext whose identity was not written would be lost for good.
  if (values["identity-out"]) {
    await writeFile(values["identity-out"], enc.identity + "\n", { mode: 0o600, flag: "wx" }).catch((err: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot write ${values["identity-out"]}: ${err.code ?? err.message}`);
    });
  }
  await writeFile(out, enc.ciphertext, { flag: values.force ? "w" : "wx" }).catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(err.code === "EEXIST" ? `${out} exists; use --out or --force` : `cannot write ${out}: ${err.message}`);
  });

  const summary = { ciphertext: out, plaintextDigest: enc.plaintextDigest, ciphertextDigest: enc.ciphertextDigest, recipient: enc.recipient, resource: resource ?? null, kbs: kbsUrl };
  if (values.json) io.out(JSON.stringify(summary, null, 2));
  else {
    io.out(`wrote ${out}`);
    io.out(`plaintext digest   ${enc.plaintextDigest}`);
    io.out(`ciphertext digest  ${enc.ciphertextDigest}`);
    if (resource) io.out(`key stored in the KBS as ${resource}, released only under its policy`);
    if (values["identity-out"]) io.out(`identity written to ${values["identity-out"]} (0600)`);
  }
  return 0;
}
