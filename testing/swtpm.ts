import { describeWhen } from "./describe-when.js";
import { stopProcess } from "./process.js";
import { canConnect } from "./net.js";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** A software TPM 2.0 (swtpm) of one test run, on loopback, with its own state directory. */
export interface Swtpm {
  /** TCTI string for tpm2-tools / the TPM attester, e.g. `swtpm:host=127.0.0.1,port=41234`. */
  tcti: string;
  port: number;
  stateDir: string;
  /**
   * With `manufacture: true`: the private swtpm-localca CA that signed this TPM's EK certificate
   * (root, then the issuing CA), for tests of EK chain verification.
   */
  ekCa?: { rootPem: string; issuerPem: string };
  /** Stops the process (SIGTERM, then SIGKILL); the TPM state (persistent objects) is kept. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and state: persistent handles survive, PCRs reset. */
  start(): Promise<void>;
  /** Stops it and removes the state directory. */
  dispose(): Promise<void>;
  /** Runs a tpm2-tools command against this TPM (in `cwd` when given); returns stdout. */
  tool(tool: string, args: readonly string[], cwd?: string): Promise<string>;
}

/** True when swtpm, swtpm_setup (swtpm-tools) and tpm2-tools are on PATH. */
export function swtpmAvailable(): boolean {
  // Only "can it be started": swtpm_setup --version exits 1 although it is fine.
  const has = (cmd: string, arg: string) => {
    const r = spawnSync(cmd, [arg], { stdio: "ignore", timeout: 5000 });
    return r.error === undefined && r.status !== null;
  };
  return has("swtpm", "--version") && has("swtpm_setup", "--version") && has("tpm2_quote", "--version");
}

/**
 * `describe` for suites that need a real swtpm: skipped with a message when it is not installed,
 * except under CI=true, where a missing swtpm is a failure (.ci/run installs it).
 */
export function describeWithSwtpm(name: string, fn: () => void): void {
  describeWhen(
    name,
    swtpmAvailable(),
    { test: "has swtpm and tpm2-tools installed", why: "swtpm / tpm2-tools not found; CI must install swtpm swtpm-tools tpm2-tools", skip: "swtpm or tpm2-tools is not installed" },
    fn,
  );
}

/**
 * Manufactures the TPM like a vendor would (swtpm_setup): RSA and ECC EKs persisted at
 * 0x81010001 / 0x81010016 and EK certificates in NV 0x01c00002 / 0x01c0000a, signed by a CA of
 * this run only (swtpm_localca with its state under `base`, never the machine's /var/lib one).
 */
async function manufacture(base: string, stateDir: string): Promise<{ rootPem: string; issuerPem: string }> {
  const ca = join(base, "ca");
  await mkdir(ca);
  await writeFile(
    join(base, "localca.conf"),
    [`statedir = ${ca}`, `signingkey = ${ca}/signkey.pem`, `issuercert = ${ca}/issuercert.pem`, `certserial = ${ca}/certserial`, ""].join("\n"),
  );
  await writeFile(join(base, "localca.options"), "--platform-manufacturer Propeller\n--platform-version 2.1\n--platform-model test\n");
  await writeFile(
    join(base, "swtpm_setup.conf"),
    [
      "create_certs_tool = /usr/bin/swtpm_localca",
      `create_certs_tool_config = ${join(base, "localca.conf")}`,
      `create_certs_tool_options = ${join(base, "localca.options")}`,
      "active_pcr_banks = sha256",
      "",
    ].join("\n"),
  );
  await execFileAsync("swtpm_setup", ["--tpm2", "--tpmstate", stateDir, "--create-ek-cert", "--config", join(base, "swtpm_setup.conf"), "--overwrite"], {
    timeout: 60_000,
  });
  return {
    rootPem: await readFile(join(ca, "swtpm-localca-rootca-cert.pem"), "utf8"),
    issuerPem: await readFile(join(ca, "issuercert.pem"), "utf8"),
  };
}

function listen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** swtpm's TCTI takes the control port as port+1, so we need two adjacent free ports. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if ((await listen(port)) && (await listen(port + 1))) return port;
  }
  throw new Error("no two adjacent free loopback ports found after 50 attempts");
}


/**
 * Starts `swtpm socket --tpm2` on free loopback ports with an empty state directory (swtpm
 * creates a fresh TPM there; swtpm_setup is not needed) and `startup-clear`, so the TPM is ready
 * for commands; waits until a real TPM2 command (tpm2_getrandom) succeeds.
 */
export async function startSwtpm(options: { manufacture?: boolean } = {}): Promise<Swtpm> {
  const base = await mkdtemp(join(tmpdir(), "propeller-swtpm-"));
  const stateDir = join(base, "state");
  await mkdir(stateDir);
  let ekCa: Swtpm["ekCa"];
  if (options.manufacture === true) {
    try {
      ekCa = await manufacture(base, stateDir);
    } catch (err) {
      await rm(base, { recursive: true, force: true });
      throw err;
    }
  }
  let port = 0;
  let child: ChildProcess | undefined;
  const tcti = () => `swtpm:host=127.0.0.1,port=${port}`;

  const start = async () => {
    if (port === 0) port = await freePortPair();
    const proc = spawn(
      "swtpm",
      [
        "socket",
        "--tpm2",
        "--tpmstate",
        `dir=${stateDir}`,
        "--server",
        `type=tcp,port=${port},bindaddr=127.0.0.1`,
        "--ctrl",
        `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        "--flags",
        "not-need-init,startup-clear",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child = proc;
    let stderr = "";
    proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`swtpm exited with ${proc.exitCode}: ${stderr}`);
      if (await canConnect(port)) {
        try {
          await execFileAsync("tpm2_getrandom", ["-T", tcti(), "--hex", "8"], { timeout: 5000 });
          return;
        } catch {
          // The socket may accept before the TPM is initialised; try again until the deadline.
        }
      }
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`swtpm did not become ready on port ${port} within 10 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    await stopProcess(proc);
  };

  try {
    await start();
  } catch (err) {
    await rm(base, { recursive: true, force: true });
    throw err;
  }
  return {
    ...(ekCa ? { ekCa } : {}),
    get tcti() {
      return tcti();
    },
    get port() {
      return port;
    },
    stateDir,
    start,
    stop,
    async dispose() {
      await stop();
      await rm(base, { recursive: true, force: true });
    },
    async tool(tool, args, cwd) {
      const { stdout } = await execFileAsync(tool, [...args], {
        timeout: 30_000,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TPM2TOOLS_TCTI: tcti() },
        ...(cwd ? { cwd } : {}),
      });
      return stdout;
    },
  };
}
