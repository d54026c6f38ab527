/**
 * The import object a component run gets, built inside its worker thread from
 * @bytecodealliance/preview2-shim with nothing ambient:
 *
 * - environment and arguments: exactly the task's (never the proplet's); no initial cwd;
 * - stdin: the task's bytes; stdout/stderr: streamed to the parent up to the output cap (the rest
 *   counted as truncated), as streams the shim's own `wasi:io` accepts (subclasses of its classes);
 * - exit: ends the run with the guest's code (not the worker's `process.exit`);
 * - filesystem: only the granted directories (their host side chosen by the proplet), read-only
 *   ones refusing every change, symlink creation refused everywhere (a link could point out);
 * - network: none unless hosts are granted; then DNS only for granted names, TCP connect only to
 *   granted `host:port` pairs (the addresses their names resolved to, or literal IPs), no bind or
 *   listen, no UDP; outgoing wasi:http only to granted authorities.
 *
 * One worker serves one run, so patching the shim's classes here touches no other run.
 */
import { clocks, http, io, random } from "@bytecodealliance/preview2-shim";
import * as filesystemShim from "@bytecodealliance/preview2-shim/filesystem";
import * as socketsShim from "@bytecodealliance/preview2-shim/sockets";
import type { DirGrant } from "./protocol.js";

// The shim ships JS whose published types are the browser flavour's; under Node the "node"
// export condition loads dist/nodejs, whose extra functions are typed here. `any` marks the
// shim's own loosely typed classes, which we subclass or patch.
/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyClass = { prototype: Record<string, any> } & (new (...args: any[]) => any);
type SocketsNamespace = Record<"instanceNetwork" | "network" | "ipNameLookup" | "tcp" | "tcpCreateSocket" | "udp" | "udpCreateSocket", unknown>;
const { _clearPreopens, _setPreopens, preopens, types: fsTypes } = filesystemShim as unknown as {
  _clearPreopens(): void;
  _setPreopens(map: Record<string, string>): void;
  preopens: { getDirectories(): Array<[object, string]> };
  types: unknown;
};
const { createSockets } = socketsShim as unknown as { createSockets(config: { enableNetwork?: boolean }): SocketsNamespace };

/** Thrown by the exit import; caught around the guest call. */
export class GuestExit {
  constructor(readonly code: number) {}
}

export interface SandboxOptions {
  programName: string;
  args: string[];
  env: Record<string, string>;
  stdin: Uint8Array;
  outputBytes: number;
  dirs: DirGrant[];
  hosts: string[];
  onOutput: (fd: 1 | 2, data: Uint8Array) => void;
}

export interface Sandbox {
  imports: Record<string, unknown>;
  truncated: { 1: boolean; 2: boolean };
}

const streams = io.streams as unknown as { InputStream: AnyClass; OutputStream: AnyClass };
const readyPollable = () => (clocks.monotonicClock as any).subscribeDuration(0n);

export function buildSandbox(o: SandboxOptions): Sandbox {
  const truncated = { 1: false, 2: false };
  const written = { 1: 0, 2: 0 };

  class CapturedOutput extends streams.OutputStream {
    constructor(private readonly fd: 1 | 2) {
      super();
    }
    checkWrite(): bigint {
      return 1n << 20n;
    }
    write(buf: Uint8Array): void {
      const room = o.outputBytes - written[this.fd];
      if (buf.byteLength > room) truncated[this.fd] = true;
      const take = Math.min(buf.byteLength, Math.max(room, 0));
      if (take > 0) {
        // a copy: the guest's memory may change (or grow and detach) once we return
        o.onOutput(this.fd, buf.slice(0, take));
        written[this.fd] += take;
      }
    }
    blockingWriteAndFlush(buf: Uint8Array): void {
      this.write(buf);
    }
    flush(): void {}
    blockingFlush(): void {}
    writeZeroes(len: bigint): void {
      this.write(new Uint8Array(Number(len > 65536n ? 65536n : len)));
    }
    blockingWriteZeroesAndFlush(len: bigint): void {
      this.writeZeroes(len);
    }
    subscribe(): unknown {
      return readyPollable();
    }
  }

  class TaskStdin extends streams.InputStream {
    private offset = 0;
    read(len: bigint): Uint8Array {
      if (this.offset >= o.stdin.byteLength) throw { tag: "closed" };
      const n = Math.min(Number(len > 1048576n ? 1048576n : len), o.stdin.byteLength - this.offset);
      const out = o.stdin.slice(this.offset, this.offset + n);
      this.offset += n;
      return out;
    }
    blockingRead(len: bigint): Uint8Array {
      return this.read(len);
    }
    skip(len: bigint): bigint {
      return BigInt(this.read(len).byteLength);
    }
    blockingSkip(len: bigint): bigint {
      return this.skip(len);
    }
    subscribe(): unknown {
      return readyPollable();
    }
  }

  const stdout = new CapturedOutput(1);
  const stderr = new CapturedOutput(2);
  const stdin = new TaskStdin();
  const env = Object.entries(o.env);
  const args = [o.programName, ...o.args];

  const exit = {
    exit(status: { tag: string }): never {
      throw new GuestExit(status.tag === "err" ? 1 : 0);
    },
    exitWithCode(code: number): never {
      throw new GuestExit(code);
    },
  };
  const noTerminal = { getTerminalStdin: () => undefined, getTerminalStdout: () => undefined, getTerminalStderr: () => undefined };

  confineFilesystem(o.dirs);
  const sockets = confineNetwork(o.hosts);

  const imports: Record<string, unknown> = {
    "wasi:cli/environment": { getEnvironment: () => env, getArguments: () => args, initialCwd: () => undefined },
    "wasi:cli/exit": exit,
    "wasi:cli/stdin": { getStdin: () => stdin },
    "wasi:cli/stdout": { getStdout: () => stdout },
    "wasi:cli/stderr": { getStderr: () => stderr },
    "wasi:cli/terminal-input": { TerminalInput: class TerminalInput {} },
    "wasi:cli/terminal-output": { TerminalOutput: class TerminalOutput {} },
    "wasi:cli/terminal-stdin": { getTerminalStdin: noTerminal.getTerminalStdin },
    "wasi:cli/terminal-stdout": { getTerminalStdout: noTerminal.getTerminalStdout },
    "wasi:cli/terminal-stderr": { getTerminalStderr: noTerminal.getTerminalStderr },
    "wasi:filesystem/preopens": preopens,
    "wasi:filesystem/types": fsTypes,
    "wasi:io/error": io.error,
    "wasi:io/poll": io.poll,
    "wasi:io/streams": io.streams,
    "wasi:clocks/wall-clock": clocks.wallClock,
    "wasi:clocks/monotonic-clock": clocks.monotonicClock,
    "wasi:random/random": random.random,
    "wasi:random/insecure": random.insecure,
    "wasi:random/insecure-seed": random.insecureSeed,
    "wasi:sockets/instance-network": sockets.instanceNetwork,
    "wasi:sockets/network": sockets.network,
    "wasi:sockets/ip-name-lookup": sockets.ipNameLookup,
    "wasi:sockets/tcp": sockets.tcp,
    "wasi:sockets/tcp-create-socket": sockets.tcpCreateSocket,
    "wasi:sockets/udp": sockets.udp,
    "wasi:sockets/udp-create-socket": sockets.udpCreateSocket,
    "wasi:http/types": http.types,
    "wasi:http/outgoing-handler": confineOutgoingHttp(o.hosts),
  };
  return { imports, truncated };
}

// ---- filesystem -----------------------------------------------------------------------------

const READONLY_DENIED = [
  "writeViaStream",
  "appendViaStream",
  "setSize",
  "setTimes",
  "write",
  "createDirectoryAt",
  "setTimesAt",
  "linkAt",
  "removeDirectoryAt",
  "renameAt",
  "unlinkFileAt",
] as const;

function confineFilesystem(dirs: DirGrant[]): void {
  // The shim's module-level preopens default to the host's "/": replace them with the grants.
  if (dirs.length === 0) _clearPreopens();
  else _setPreopens(Object.fromEntries(dirs.map((d) => [d.guest, d.host])));
  const readonlyHosts = dirs.filter((d) => d.readonly).map((d) => d.host);

  const Descriptor = (fsTypes as unknown as { Descriptor: AnyClass }).Descriptor;
  const proto = Descriptor.prototype;
  const readonlyOf = new WeakSet<object>();
  for (const [desc, guest] of preopens.getDirectories()) {
    const grant = dirs.find((d) => d.guest === guest);
    if (grant && readonlyHosts.includes(grant.host)) readonlyOf.add(desc);
  }
  // A link could point anywhere on the host; the shim would follow it.
  proto.symlinkAt = function symlinkAt(): never {
    throw "not-permitted";
  };
  proto.linkAt = function linkAt(): never {
    throw "not-permitted";
  };
  for (const name of READONLY_DENIED) {
    const original = proto[name] as (...a: unknown[]) => unknown;
    if (name === "linkAt") continue;
    proto[name] = function (this: object, ...a: unknown[]) {
      if (readonlyOf.has(this)) throw "read-only";
      return original.apply(this, a);
    };
  }
  const openAt = proto.openAt as (...a: unknown[]) => object;
  proto.openAt = function (this: object, pathFlags: unknown, path: unknown, openFlags: Record<string, boolean>, flags: Record<string, boolean>) {
    const ro = readonlyOf.has(this);
    if (ro && (openFlags?.create || openFlags?.truncate || flags?.write || flags?.mutateDirectory)) throw "read-only";
    const opened = openAt.call(this, pathFlags, path, openFlags, flags);
    if (ro) readonlyOf.add(opened);
    return opened;
  };
}

// ---- network --------------------------------------------------------------------------------

interface HostGrant {
  host: string;
  port: number;
}

function parseHosts(hosts: string[]): HostGrant[] {
  return hosts.map((h) => {
    const i = h.lastIndexOf(":");
    return { host: h.slice(0, i).toLowerCase(), port: Number(h.slice(i + 1)) };
  });
}

/** An IP address as wasi:sockets gives it (`{tag: "ipv4", val: [127, 0, 0, 1]}`) in text. */
function ipText(addr: { tag: string; val: number[] }): string {
  return addr.tag === "ipv4" ? addr.val.join(".") : addr.val.map((x) => x.toString(16)).join(":");
}

function confineNetwork(hosts: string[]): SocketsNamespace {
  const grants = parseHosts(hosts);
  const sockets = createSockets({ enableNetwork: grants.length > 0 });
  // ip → ports allowed (literal IP grants now, resolved names as they resolve)
  const allowed = new Map<string, Set<number>>();
  const allow = (ip: string, port: number) => {
    const set = allowed.get(ip) ?? new Set<number>();
    set.add(port);
    allowed.set(ip, set);
  };
  for (const g of grants) if (/^[0-9.]+$/.test(g.host)) allow(g.host, g.port);

  const lookup = sockets.ipNameLookup as unknown as { ResolveAddressStream: AnyClass; resolveAddresses: (network: unknown, name: string) => object };
  const namesOf = new WeakMap<object, string>();
  const resolve = lookup.resolveAddresses;
  const resolveStream = lookup.ResolveAddressStream.prototype;
  const next = resolveStream.resolveNextAddress as () => { tag: string; val: number[] } | undefined;
  resolveStream.resolveNextAddress = function (this: object) {
    const addr = next.call(this);
    const name = namesOf.get(this);
    if (addr && name) for (const g of grants) if (g.host === name) allow(ipText(addr), g.port);
    return addr;
  };
  const ipNameLookup = {
    ResolveAddressStream: lookup.ResolveAddressStream,
    resolveAddresses(network: unknown, name: string) {
      if (!grants.some((g) => g.host === name.toLowerCase())) throw "permanent-resolver-failure";
      const stream = resolve(network, name);
      namesOf.set(stream, name.toLowerCase());
      return stream;
    },
  };

  const tcp = (sockets.tcp as unknown as { TcpSocket: AnyClass }).TcpSocket.prototype;
  const startConnect = tcp.startConnect as (network: unknown, remote: { tag: string; val: { address: number[]; port: number } }) => void;
  tcp.startConnect = function (this: object, network: unknown, remote: { tag: string; val: { address: number[]; port: number } }) {
    const ports = allowed.get(ipText({ tag: remote.tag, val: remote.val.address }));
    if (!ports?.has(remote.val.port)) throw "access-denied";
    return startConnect.call(this, network, remote);
  };
  tcp.startBind = function (): never {
    throw "access-denied";
  };
  tcp.startListen = function (): never {
    throw "access-denied";
  };
  const udp = (sockets.udp as unknown as { UdpSocket: AnyClass }).UdpSocket.prototype;
  udp.startBind = function (): never {
    throw "access-denied";
  };
  return { ...sockets, ipNameLookup };
}

function confineOutgoingHttp(hosts: string[]): unknown {
  const grants = parseHosts(hosts);
  const handle = (http.outgoingHandler as unknown as { handle: (req: any, opts: unknown) => unknown }).handle;
  return {
    handle(request: any, options: unknown) {
      const authority = String(request.authority() ?? "").toLowerCase();
      const scheme = request.scheme();
      const defaultPort = scheme?.tag === "HTTP" ? 80 : 443;
      const i = authority.lastIndexOf(":");
      const host = i > 0 ? authority.slice(0, i) : authority;
      const port = i > 0 ? Number(authority.slice(i + 1)) : defaultPort;
      if (!grants.some((g) => g.host === host && g.port === port)) {
        // wasi:http error-code: the request is refused before any connection
        throw { tag: "HTTP-request-denied" };
      }
      return handle(request, options);
    },
  };
}
