/** What every runtime does with a guest's output and with a stop request, in one place. */
import type { RunReport, RunRequest } from "./runtime.js";

/** Output collected up to a cap; anything beyond is counted as truncated, not kept. */
export class Capture {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  /** `onKept` hears each part that is kept, as it arrives (live output: lossless up to the cap). */
  constructor(
    private readonly cap: number,
    private readonly onKept?: (data: Uint8Array) => void,
  ) {}

  push(data: Uint8Array): void {
    const room = this.cap - this.size;
    if (data.byteLength > room) this.truncated = true;
    if (room <= 0) return;
    const take = data.byteLength > room ? data.subarray(0, room) : data;
    this.chunks.push(take);
    this.size += take.byteLength;
    this.onKept?.(take);
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

/** The run error of a stopped run: the stop's reason when one was given. */
export function stoppedError(signal: AbortSignal): { code: string; message: string } {
  const reason = typeof signal.reason === "string" ? signal.reason : "stopped by request";
  return { code: "stopped", message: reason.slice(0, 1000) };
}

export type PartialReport = Partial<RunReport> & Pick<RunReport, "outcome" | "error">;

/**
 * A run's two capped output streams and the function that turns what happened into its RunReport
 * (the output captured so far always included, whatever ended the run).
 */
export function runReporter(
  outputBytes: number,
  onOutput?: RunRequest["onOutput"],
): { stdout: Capture; stderr: Capture; report: (partial: PartialReport) => RunReport } {
  const stdout = new Capture(outputBytes, onOutput && ((data) => onOutput("stdout", data)));
  const stderr = new Capture(outputBytes, onOutput && ((data) => onOutput("stderr", data)));
  const report = (partial: PartialReport): RunReport => ({
    exitCode: null,
    returnValues: null,
    startedAt: null,
    ...partial,
    stdout: stdout.bytes(),
    stderr: stderr.bytes(),
    stdoutTruncated: stdout.truncated || (partial.stdoutTruncated ?? false),
    stderrTruncated: stderr.truncated || (partial.stderrTruncated ?? false),
    finishedAt: new Date(),
  });
  return { stdout, stderr, report };
}
