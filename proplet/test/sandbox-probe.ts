/**
 * Runs inside a worker thread (sandbox.integration.test.ts): builds a component sandbox exactly as a run does
 * and drives its wasi:sockets, wasi:http and wasi:filesystem imports as a guest would, reporting
 * what each attempt gave. (The sandbox patches the shim's classes; a worker keeps that contained.)
 */
import { parentPort, workerData } from "node:worker_threads";
import { buildSandbox } from "../execute/component/sandbox.js";

interface ProbeInput {
  hosts: string[];
  allowedPort: number;
  deniedPort: number;
}

/* eslint-disable @typescript-eslint/no-explicit-any -- the shim's resources are untyped JS */
function attempt(f: () => unknown): string {
  try {
    const v = f();
    return v === undefined ? "ok" : `ok:${typeof v === "object" ? "object" : String(v)}`;
  } catch (err) {
    return `error:${typeof err === "string" ? err : JSON.stringify((err as { tag?: string })?.tag ?? (err as Error)?.message)}`;
  }
}

function probe(input: ProbeInput): Record<string, string> {
  const { imports } = buildSandbox({ programName: "p", args: [], env: {}, stdin: new Uint8Array(), outputBytes: 1024, dirs: [], hosts: input.hosts, onOutput: () => undefined });
  const i = imports as Record<string, any>;
  const network = i["wasi:sockets/instance-network"].instanceNetwork();
  const tcp = () => i["wasi:sockets/tcp-create-socket"].createTcpSocket("ipv4");
  const v4 = (port: number) => ({ tag: "ipv4", val: { port, address: [127, 0, 0, 1] } });
  const out: Record<string, string> = {};
  out.connectDenied = attempt(() => tcp().startConnect(network, v4(input.deniedPort)));
  out.connectAllowed = attempt(() => {
    const s = tcp();
    s.startConnect(network, v4(input.allowedPort));
    s.subscribe().block();
    s.finishConnect();
  });
  out.bind = attempt(() => tcp().startBind(network, v4(0)));
  out.udpBind = attempt(() => i["wasi:sockets/udp-create-socket"].createUdpSocket("ipv4").startBind(network, v4(0)));
  out.resolveDenied = attempt(() => i["wasi:sockets/ip-name-lookup"].resolveAddresses(network, "example.com"));
  out.resolveThenConnect = attempt(() => {
    const stream = i["wasi:sockets/ip-name-lookup"].resolveAddresses(network, "localhost");
    stream.subscribe().block();
    let addr;
    let v4addr: number[] | undefined;
    while ((addr = stream.resolveNextAddress()) !== undefined) if (addr.tag === "ipv4") v4addr = addr.val;
    if (!v4addr) return "no ipv4";
    const s = tcp();
    s.startConnect(network, { tag: "ipv4", val: { port: input.allowedPort, address: v4addr } });
    s.subscribe().block();
    s.finishConnect();
    return undefined;
  });
  const { Fields, OutgoingRequest } = i["wasi:http/types"];
  const request = (authority: string) => {
    const r = new OutgoingRequest(new Fields());
    r.setScheme({ tag: "HTTP" });
    r.setAuthority(authority);
    r.setPathWithQuery("/");
    return r;
  };
  out.httpDenied = attempt(() => i["wasi:http/outgoing-handler"].handle(request(`127.0.0.1:${input.deniedPort}`), undefined));
  out.httpAllowed = attempt(() => i["wasi:http/outgoing-handler"].handle(request(`127.0.0.1:${input.allowedPort}`), undefined));
  out.preopens = String(i["wasi:filesystem/preopens"].getDirectories().length);
  return out;
}

parentPort!.postMessage(probe(workerData as ProbeInput));
