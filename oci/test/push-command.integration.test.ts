import { Readable } from "node:stream";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushCommand } from "../../cli/commands/push.js";
import { encryptWorkload } from "../../protocol/workload-encryption.js";
import { startRegistry, type TestRegistry } from "../../testing/registry.js";
import { pullWasm } from "../wasm-artifact.js";
import { wasmModule } from "./helpers.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) }, out, err };
}

let registry: TestRegistry;
let dir: string;
beforeAll(async () => {
  registry = await startRegistry({ auth: { kind: "htpasswd", username: "ci", password: "pw-from-stdin" } });
  dir = await mkdtemp(join(tmpdir(), "propeller-push-"));
});
afterAll(async () => {
  await registry?.dispose();
  await rm(dir, { recursive: true, force: true });
});

describe("propeller push", () => {
  it("pushes with --password-stdin and prints the digest reference, which pulls back the same bytes", async () => {
    const wasm = wasmModule(1000);
    const file = join(dir, "app.wasm");
    await writeFile(file, wasm);
    const { io, out } = capture();
    const code = await pushCommand([file, `${registry.host}/cli/app:1`, "--insecure", "--username", "ci", "--password-stdin"], io, {
      stdin: Readable.from(["pw-from-stdin\n"]),
    });
    expect(code).toBe(0);
    expect(out[0]).toMatch(new RegExp(`^${registry.host.replace(/\./g, "\\.")}/cli/app@sha256:[0-9a-f]{64}$`));
    const pulled = await pullWasm(out[0]!, { insecureRegistries: [registry.host], credentials: () => ({ username: "ci", password: "pw-from-stdin" }) });
    expect(Buffer.from(pulled.bytes).equals(Buffer.from(wasm))).toBe(true);
  });

  it("pushes an encrypted artifact with its KBS resource and plaintext digest", async () => {
    const plain = wasmModule(300);
    const enc = await encryptWorkload(plain);
    const file = join(dir, "app.wasm.age");
    await writeFile(file, enc.ciphertext);
    const { io, out } = capture();
    const code = await pushCommand(
      [file, `${registry.host}/cli/secret:1`, "--insecure", "--username", "ci", "--password-stdin", "--encrypted-for", "kbs:///default/wasm/app", "--plaintext-digest", enc.plaintextDigest],
      io,
      { stdin: Readable.from(["pw-from-stdin"]) },
    );
    expect(code).toBe(0);
    const pulled = await pullWasm(out[0]!, { insecureRegistries: [registry.host], credentials: () => ({ username: "ci", password: "pw-from-stdin" }) });
    expect(pulled.encrypted).toEqual({ kbsResource: "kbs:///default/wasm/app", plaintextDigest: enc.plaintextDigest });
  });

  it("without credentials the registry's 401 surfaces as a typed error", async () => {
    const file = join(dir, "b.wasm");
    await writeFile(file, wasmModule(10));
    await expect(pushCommand([file, `${registry.host}/cli/app:2`, "--insecure"], capture().io)).rejects.toMatchObject({ code: "oci_unauthorized" });
  });

  it.each([
    [["only-one-arg"], /a file and a reference/],
    [["x.wasm", "noregistry:1"], /names no registry/],
    [["x.wasm", "localhost:5000/a@sha256:" + "a".repeat(64)], /takes a tag/],
    [["x.wasm", "localhost:5000/a:1", "--username", "u"], /--username and --password-stdin go together/],
    [["x.wasm", "localhost:5000/a:1", "--encrypted-for", "kbs:///a/b/c"], /go together/],
    [["x.wasm", "localhost:5000/a:1", "--encrypted-for", "kbs:///a/b/c", "--plaintext-digest", "sha256:zz"], /--plaintext-digest takes/],
    [["/nonexistent/x.wasm", "localhost:5000/a:1"], /cannot read/],
    [["x.wasm", "localhost:5000/a:1", "--password", "p"], /unknown option --password \(did you mean --password-stdin\?\)/],
  ])("usage error: %j", async (argv, message) => {
    await expect(pushCommand(argv, capture().io)).rejects.toMatchObject({ code: "usage", message: expect.stringMatching(message) });
  });

  it("refuses a file that is not Wasm, and an age file without the encryption flags", async () => {
    const notWasm = join(dir, "notes.txt");
    await writeFile(notWasm, "hello");
    await expect(pushCommand([notWasm, `${registry.host}/cli/x:1`, "--insecure"], capture().io)).rejects.toMatchObject({ code: "usage", message: expect.stringMatching(/not a Wasm binary/) });
    const age = join(dir, "x.age");
    await writeFile(age, (await encryptWorkload(wasmModule(5))).ciphertext);
    await expect(pushCommand([age, `${registry.host}/cli/x:1`, "--insecure"], capture().io)).rejects.toMatchObject({ code: "usage", message: expect.stringMatching(/is an age file/) });
  });
});
