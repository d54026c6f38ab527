/**
 * The component sandbox's network and filesystem, driven as a guest drives them, against real
 * sockets on loopback: nothing is reachable unless granted; granted host:port pairs are (by IP or
 * by a granted name, which alone may be resolved); no bind, no listen, no UDP; outgoing wasi:http
 * only to granted authorities; no preopened directory by default (the shim's own default is "/").
 */
import { createServer, type Server } from "node:net";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let allowed: Server;
let denied: Server;
const port = (s: Server) => (s.address() as { port: number }).port;

beforeAll(async () => {
  const listen = () =>
    new Promise<Server>((resolve) => {
      const s = createServer((c) => c.end());
      s.listen(0, "127.0.0.1", () => resolve(s));
    });
  allowed = await listen();
  denied = await listen();
});
afterAll(() => {
  allowed.close();
  denied.close();
});

function probe(hosts: string[]): Promise<Record<string, string>> {
  const tsxApi = pathToFileURL(join(dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/esm/api/index.mjs")).href;
  const entry = new URL("./sandbox-probe.ts", import.meta.url).href;
  const worker = new Worker(`import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`, {
    eval: true,
    workerData: { hosts, allowedPort: port(allowed), deniedPort: port(denied) },
    env: {},
  });
  return new Promise((resolve, reject) => {
    worker.once("message", (m: Record<string, string>) => {
      void worker.terminate();
      resolve(m);
    });
    worker.once("error", reject);
  });
}

describe("component sandbox", () => {
  it("with no grants: no connect, no DNS, no outgoing HTTP, no filesystem", async () => {
    const r = await probe([]);
    expect(r).toMatchObject({
      connectDenied: "error:access-denied",
      connectAllowed: "error:access-denied",
      bind: "error:access-denied",
      udpBind: "error:access-denied",
      resolveDenied: "error:permanent-resolver-failure",
      resolveThenConnect: "error:permanent-resolver-failure",
      httpDenied: 'error:"HTTP-request-denied"',
      httpAllowed: 'error:"HTTP-request-denied"',
      preopens: "0",
    });
  }, 30_000);

  it("grants open exactly the granted host:port pairs, by IP or by (resolved) name", async () => {
    const r = await probe([`127.0.0.1:${port(allowed)}`, `localhost:${port(allowed)}`]);
    expect(r).toMatchObject({
      connectDenied: "error:access-denied",
      connectAllowed: "ok",
      bind: "error:access-denied",
      udpBind: "error:access-denied",
      resolveDenied: "error:permanent-resolver-failure",
      resolveThenConnect: "ok",
      httpDenied: 'error:"HTTP-request-denied"',
      httpAllowed: "ok:object",
    });
  }, 30_000);
});
