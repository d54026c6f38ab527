import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PropellerError } from "../../protocol/errors.js";

/** A tpm2-tools command failed, timed out, or could not be started. */
export class TpmToolError extends PropellerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("tpm_tool_failed", message, details);
  }
}

/**
 * TCTIs we pass to tpm2-tools: a swtpm/mssim simulator on a host and port, a TPM character device,
 * or the access broker. Anything else is refused so a configuration value cannot smuggle options.
 */
const TCTI_PATTERN = /^(?:(?:swtpm|mssim):host=[A-Za-z0-9.-]{1,253},port=\d{1,5}|device:\/dev\/tpm(?:rm)?\d{1,3}|tabrmd(?::bus_name=[A-Za-z0-9.]{1,128})?)$/;

export function validateTcti(tcti: string): string {
  if (!TCTI_PATTERN.test(tcti)) {
    throw new TpmToolError(`TCTI "${tcti}" is not one of swtpm:host=H,port=P, mssim:host=H,port=P, device:/dev/tpmN, device:/dev/tpmrmN, tabrmd`);
  }
  return tcti;
}

export interface ToolRunner {
  (tool: string, args: readonly string[]): Promise<string>;
}

/** tpm2-tools write short YAML; a megabyte is far more than any of them prints. */
const MAX_OUTPUT = 1024 * 1024;

/**
 * Runs tpm2-tools against one TCTI: execFile (no shell), a timeout per command, a minimal
 * environment (PATH and the TCTI only), and `cwd` set to the caller's private work directory.
 * Returns stdout; a failure throws TpmToolError carrying the tool's stderr (no secrets pass here:
 * hierarchy auth is empty in our setup and never put on a command line).
 */
export function toolRunner(tcti: string, cwd: string, timeoutMs: number): ToolRunner {
  validateTcti(tcti);
  return (tool, args) =>
    new Promise((resolve, reject) => {
      if (!/^tpm2_[a-z]+$/.test(tool)) {
        reject(new TpmToolError(`${tool} is not a tpm2-tools command`));
        return;
      }
      execFile(
        tool,
        [...args],
        {
          cwd,
          timeout: timeoutMs,
          killSignal: "SIGKILL",
          maxBuffer: MAX_OUTPUT,
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TPM2TOOLS_TCTI: tcti },
        },
        (err, stdout, stderr) => {
          if (err) {
            const timedOut = (err as NodeJS.ErrnoException & { killed?: boolean }).killed === true;
            reject(
              new TpmToolError(
                timedOut ? `${tool} timed out after ${timeoutMs} ms` : `${tool} failed: ${String(stderr).trim().split("\n").slice(-3).join(" | ") || err.message}`,
                { tool, args: [...args] },
              ),
            );
            return;
          }
          resolve(String(stdout));
        },
      );
    });
}

/**
 * One tpm2-tools sequence at a time against one TPM (its sessions and transient objects are a
 * shared resource), each in a private work directory removed afterwards.
 */
export class ToolQueue {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly tcti: string,
    private readonly timeoutMs: number,
    private readonly dirPrefix: string,
  ) {
    validateTcti(tcti);
  }

  run<T>(fn: (run: ToolRunner, dir: string) => Promise<T>): Promise<T> {
    const next = this.queue.then(async () => {
      const dir = await mkdtemp(join(tmpdir(), this.dirPrefix));
      try {
        return await fn(toolRunner(this.tcti, dir, this.timeoutMs), dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    this.queue = next.catch(() => undefined);
    return next;
  }
}
