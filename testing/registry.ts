import { stopProcess } from "./process.js";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./net.js";


/**
 * Debian's real OCI registry (`docker-registry`, distribution 2.8) on a free loopback port with
 * its own storage directory, for tests. Plain HTTP: clients must list `host` as insecure.
 */
export interface TestRegistry {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT`: the registry part of references. */
  host: string;
  port: number;
  /** `storage.filesystem.rootdirectory`; blobs are under docker/registry/v2/blobs/sha256/<2>/<hex>/data. */
  storageDir: string;
  stop(): Promise<void>;
  /** Stops it and removes its storage and configuration. */
  dispose(): Promise<void>;
}

export type RegistryAuth =
  | { kind: "htpasswd"; username: string; password: string }
  /** Token auth: the registry trusts JWTs signed by the key of `rootCertPem` (x5c chains to it). */
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertPem: string };

export interface StartRegistryOptions {
  auth?: RegistryAuth;
}

/** Filesystem path of a blob's data file inside a registry's storage. */
export function registryBlobPath(storageDir: string, digest: string): string {
  const hex = digest.replace(/^sha256:/, "");
  return join(storageDir, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
}

export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "propeller-registry-"));
  const storageDir = join(dir, "storage");
  const configPath = join(dir, "config.yml");
  const lines = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
  ];
  const auth = options.auth;
  if (auth?.kind === "htpasswd") {
    const htpasswdPath = join(dir, "htpasswd");
    await writeFile(htpasswdPath, `${auth.username}:${await bcryptHash(auth.password)}\n`, { mode: 0o600 });
    lines.push("auth:", "  htpasswd:", "    realm: propeller-test", `    path: ${JSON.stringify(htpasswdPath)}`);
  } else if (auth?.kind === "token") {
    const bundle = join(dir, "token-root.pem");
    await writeFile(bundle, auth.rootCertPem);
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(auth.realm)}`,
      `    service: ${JSON.stringify(auth.service)}`,
      `    issuer: ${JSON.stringify(auth.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(bundle)}`,
    );
  }
  await writeFile(configPath, `${lines.join("\n")}\n`);

  let child: ChildProcess | undefined = spawn("docker-registry", ["serve", configPath], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 64 * 1024) stderr += d.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const proc = child;
    child = undefined;
    await stopProcess(proc);
  };
  const dispose = async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  };
  // Up means GET /v2/ answers: 200 without auth, 401 (a challenge) with it.
  const ready = auth ? 401 : 200;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status, () => 0);
    if (status === ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await dispose();
      throw new Error(`docker-registry did not come up on ${url} (last status ${status}): ${stderr.slice(0, 2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, host: `127.0.0.1:${port}`, port, storageDir, stop, dispose };
}

/**
 * A bcrypt hash for the registry's htpasswd file (it accepts bcrypt only). Apache's `htpasswd -nbB`
 * when installed; otherwise Debian's python3 `crypt` module (glibc/libxcrypt does bcrypt `$2b$`).
 * Neither puts the password on a command line: it goes through stdin.
 */
export async function bcryptHash(password: string): Promise<string> {
  const py = "import crypt,sys,warnings; warnings.simplefilter('ignore'); print(crypt.crypt(sys.stdin.read(), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<5)))";
  try {
    const hash = (await runWithStdin("/usr/bin/python3", ["-c", py], password)).trim();
    if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return hash;
  } catch {
    /* fall through to htpasswd */
  }
  const out = (await runWithStdin("htpasswd", ["-niB", "-C", "5", "u"], `${password}\n`)).trim();
  const hash = out.slice(out.indexOf(":") + 1);
  if (!hash.startsWith("$2")) throw new Error("no bcrypt available: install apache2-utils (htpasswd) or python3 with crypt");
  return hash;
}

function runWithStdin(cmd: string, args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    p.stdin?.end(input);
  });
}

