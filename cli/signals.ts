/**
 * Waits for SIGTERM / SIGINT (a container stop, Ctrl-C). Installed before a service starts so a
 * signal during start-up is not lost; a second signal while shutting down exits at once.
 */
export function untilSignal(): { signal: Promise<NodeJS.Signals>; dispose(): void } {
  let handler: ((s: NodeJS.Signals) => void) | undefined;
  let received = false;
  const signal = new Promise<NodeJS.Signals>((resolve) => {
    handler = (s) => {
      if (received) process.exit(130);
      received = true;
      resolve(s);
    };
    process.on("SIGTERM", handler);
    process.on("SIGINT", handler);
  });
  return {
    signal,
    dispose() {
      if (!handler) return;
      process.off("SIGTERM", handler);
      process.off("SIGINT", handler);
    },
  };
}
