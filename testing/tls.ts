import { canConnect } from "./net.js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initCa, issue, revoke, writeCrl, type CertKind } from "../certs/index.js";

export interface TlsIdentityFiles {
  cert: Buffer;
  key: Buffer;
}

export interface TestPki {
  /** Our CA and everything it issued. */
  dir: string;
  ca: Buffer;
  /** Files of a certificate issued by our CA, by file name. */
  identity(name: string): Promise<TlsIdentityFiles>;
  /** A certificate for `name` (a proplet) from an unrelated CA: must be refused everywhere. */
  foreign(name: string): Promise<TlsIdentityFiles>;
  dispose(): Promise<void>;
}

/**
 * A throwaway PKI for tests: our CA (with its CRL) with a `broker` server certificate,
 * `manager-client`, the given proplets and operators, and revoked proplets; plus a second,
 * unrelated CA for "foreign" certificates.
 */
export async function createTestPki(options: { proplets: string[]; operators?: string[]; servers?: string[]; revoked?: string[] }): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), "propeller-pki-"));
  const otherDir = await mkdtemp(join(tmpdir(), "propeller-pki-other-"));
  await initCa(dir, { name: "Propeller test CA" });
  await initCa(otherDir, { name: "Propeller test CA" }); // same name on purpose: only the key differs
  const issued: Array<[CertKind, string]> = [
    ["server", "broker"],
    ...(options.servers ?? []).map((s): [CertKind, string] => ["server", s]),
    ["manager-client", "manager-client"],
    ...options.proplets.map((p): [CertKind, string] => ["proplet", p]),
    ...(options.operators ?? []).map((o): [CertKind, string] => ["operator", o]),
  ];
  for (const [kind, name] of issued) await issue(dir, kind, name);
  // Proplets whose certificates are then revoked: the brokers load ca.crl and must refuse them.
  for (const name of options.revoked ?? []) {
    await issue(dir, "proplet", name);
    await revoke(dir, name);
  }
  await writeCrl(dir);
  const files = async (d: string, name: string) => ({ cert: await readFile(join(d, `${name}.pem`)), key: await readFile(join(d, `${name}.key`)) });
  return {
    dir,
    ca: await readFile(join(dir, "ca.pem")),
    identity: (name) => files(dir, name),
    async foreign(name) {
      await issue(otherDir, "proplet", name, { force: true });
      return files(otherDir, name);
    },
    async dispose() {
      await rm(dir, { recursive: true, force: true });
      await rm(otherDir, { recursive: true, force: true });
    },
  };
}

export interface RunningMosquitto {
  stop(): Promise<void>;
  /** What Mosquitto logged (for assertions and failure messages). */
  log(): string;
}

/** Spawns `mosquitto -c <config>` and waits until it accepts TCP connections on `port`. */
export async function startMosquittoWithConfig(configPath: string, port: number): Promise<RunningMosquitto> {
  const child: ChildProcess = spawn("mosquitto", ["-c", configPath], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout?.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (log += d.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited (${child.exitCode}): ${log}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`mosquitto did not listen on ${port}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { stop, log: () => log };
}

