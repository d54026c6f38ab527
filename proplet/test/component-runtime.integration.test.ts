/**
 * The component runtimes through the real thing: jco transpile (in its worker), the
 * preview2-shim, a worker thread per run, real Wasm. Example components: examples/components.
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ComponentRuntime } from "../execute/component/runtime.js";
import { TranspileCache } from "../execute/component/cache.js";
import { LIMITS_FOR_TESTS, example, runRequest as request, text } from "./helpers.js";

let workDir: string;
let component: ComponentRuntime;
let http: ComponentRuntime;
let cache: TranspileCache;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), "propeller-components-"));
  cache = new TranspileCache({ dir: join(workDir, "components"), maxEntries: 2 });
  component = new ComponentRuntime({ kind: "component", workDir, cache });
  http = new ComponentRuntime({ kind: "wasi-http", workDir, cache });
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

const call = (name: string, args: string) => ({ entrypoint: { kind: "export" as const, name, args } });

describe("component runtime: commands", () => {
  it("runs a preview2 command with args, env and stdin; captures stdout, stderr and the exit code", async () => {
    process.env.GREETING = "Leaked";
    try {
      const r = await component.run(
        request(await example("components/hello-p2/hello.component.wasm"), {
          args: ["Ada"],
          env: { GREETING: "Bonjour", EXIT_CODE: "7" },
          stdin: Buffer.from("piped bytes"),
        }),
      );
      expect(r.error).toBeNull();
      expect(r.outcome).toBe("completed");
      // WASI 0.2's wasi:cli/exit says only success or failure: a nonzero status arrives as 1
      expect(r.exitCode).toBe(1);
      expect(text(r.stdout)).toBe("Bonjour, Ada!\nstdin: piped bytes\nread 11 bytes from stdin\n");
      expect(text(r.stderr)).toBe("hello: done\n");
      const plain = await component.run(request(await example("components/hello-p2/hello.component.wasm")));
      expect(text(plain.stdout)).toMatch(/^Hello, world!\n/); // the proplet's GREETING never reaches it
      expect(plain.exitCode).toBe(0);
    } finally {
      delete process.env.GREETING;
    }
  });

  it("caps stdout and marks it truncated", async () => {
    const r = await component.run(request(await example("components/hello-p2/hello.component.wasm"), { limits: { ...LIMITS_FOR_TESTS, outputBytes: 5 } }));
    expect(text(r.stdout)).toBe("Hello");
    expect(r.stdoutTruncated).toBe(true);
  });

  it("caches the transpiled component by digest (bounded) and serves the second run from it", async () => {
    const bytes = await example("components/hello-p2/hello.component.wasm");
    await component.run(request(bytes));
    const key = TranspileCache.key(bytes);
    expect(await cache.get(key)).not.toBeNull();
    // bounded: two more components evict the least recently used
    await component.run(request(await example("components/calc/calc.wasm"), call("add", "1, 2")));
    await http.run(request(await example("components/hello-http/hello-http.wasm"), { signal: AbortSignal.abort("no need to serve") }));
    const entries = (await readdir(join(workDir, "components"))).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expect(entries.length).toBeLessThanOrEqual(2);
  });

  it("never caches a secret (confidential) component", async () => {
    const bytes = await example("components/calc/calc.wasm");
    const key = TranspileCache.key(bytes);
    await rm(join(workDir, "components", key), { recursive: true, force: true });
    const r = await component.run(request(bytes, { ...call("add", "2, 3"), secret: true }));
    expect(r.returnWave).toBe("5");
    expect(await cache.get(key)).toBeNull();
  });

  it("refuses what is not a component with invalid_wasm", async () => {
    const r = await component.run(request(await example("hello/hello.wasm")));
    expect(r.outcome).toBe("failed");
    expect(r.error!.code).toBe("invalid_wasm");
  });
});

describe("component runtime: exports with WAVE arguments", () => {
  let calc: Uint8Array;
  beforeAll(async () => {
    calc = await example("components/calc/calc.wasm");
  });

  it.each([
    ["add", "20, 22", "42"],
    ["greet", '"Ada \\"the\\" Countess"', '"Hello, Ada \\"the\\" Countess!"'],
    ["sum", "[1, 2, 3, -10]", "-4"],
    ["sign-of", "-5", "negative"],
    ["manhattan", "{x: -3, y: 4}", "7"],
    ["checked-div", "7, 2", "ok(3)"],
    ["checked-div", "1, 0", 'err("division by zero")'],
    ["first", "[9, 8]", "some(9)"],
    ["first", "[]", "none"],
  ])("%s(%s) = %s", async (name, args, expected) => {
    const r = await component.run(request(calc, call(name, args)));
    expect(r.error).toBeNull();
    expect(r.outcome).toBe("completed");
    expect(r.returnWave).toBe(expected);
  });

  it("a trap fails the run with code trap", async () => {
    const r = await component.run(request(calc, call("boom", "")));
    expect(r.outcome).toBe("failed");
    expect(r.error!.code).toBe("trap");
    expect(r.error!.message).toMatch(/unreachable/);
  });

  it("an export that does not exist is export_not_found, listing what exists", async () => {
    const r = await component.run(request(calc, call("multiply", "1, 2")));
    expect(r.error!.code).toBe("export_not_found");
    expect(r.error!.message).toMatch(/"multiply".*add, greet/);
  });

  it("a wrong argument type names the parameter and the expected type", async () => {
    const r = await component.run(request(calc, call("add", '1, "two"')));
    expect(r.error!.code).toBe("invalid_inputs");
    expect(r.error!.message).toBe('argument 2 (b) of "add": expected s32, got a string');
    const n = await component.run(request(calc, call("add", "1")));
    expect(n.error!.message).toMatch(/takes 2 argument\(s\) \(a: s32, b: s32\), got 1/);
    const range = await component.run(request(calc, call("add", "1, 2147483648")));
    expect(range.error!.message).toMatch(/2147483648 is out of range for s32/);
  });

  it("a run past its time limit is terminated (timeout)", async () => {
    const r = await component.run(request(calc, { ...call("spin", ""), limits: { ...LIMITS_FOR_TESTS, timeoutMs: 500 } }));
    expect(r.error!.code).toBe("timeout");
  });

  it("memory cannot grow past the run's memory limit; a component whose memory starts above it is refused", async () => {
    // 64 MiB cap = 1024 pages; the component starts with 1
    const ok = await component.run(request(calc, call("grow", "100")));
    expect(ok.returnWave).toBe("1");
    const refused = await component.run(request(calc, call("grow", "1024")));
    expect(refused.returnWave).toBe("-1");
    const tiny = await component.run(request(calc, { ...call("add", "1, 1"), limits: { ...LIMITS_FOR_TESTS, memoryBytes: 65536 } }));
    expect(tiny.returnWave).toBe("2");
    const none = await component.run(request(calc, { ...call("grow", "1"), limits: { ...LIMITS_FOR_TESTS, memoryBytes: 65536 } }));
    expect(none.returnWave).toBe("-1");
  });

  it("a stop ends the run at once with outcome stopped", async () => {
    const controller = new AbortController();
    const pending = component.run(request(calc, { ...call("spin", ""), signal: controller.signal }));
    setTimeout(() => controller.abort("enough"), 300);
    const r = await pending;
    expect(r.outcome).toBe("stopped");
    expect(r.error).toEqual({ code: "stopped", message: "enough" });
  });
});

describe("wasi-http runtime", () => {
  it("a request past limits.timeoutMs gets 504 and ends the daemon (its thread is stuck in the handler)", async () => {
    const bytes = await example("components/hello-http/hello-http.wasm");
    let finished: Promise<Awaited<ReturnType<typeof http.run>>> | undefined;
    const base = await new Promise<string>((resolve) => {
      finished = http.run(request(bytes, { runId: "spin", limits: { ...LIMITS_FOR_TESTS, timeoutMs: 1000 }, onEndpoint: resolve }));
    });
    expect(await (await fetch(`${base}/fine`)).text()).toBe("hello from /fine\n");
    const stuck = await fetch(`${base}/spin`);
    expect(stuck.status).toBe(504);
    const r = await finished!;
    expect(r.outcome).toBe("failed");
    expect(r.error!.code).toBe("timeout");
    expect(r.error!.message).toMatch(/\/spin.*per-request limit/);
    await expect(fetch(`${base}/after`)).rejects.toThrow();
  });

  it("serves GET requests on an allocated port until stopped, then the port is closed", async () => {
    const bytes = await example("components/hello-http/hello-http.wasm");
    const controller = new AbortController();
    let finished: Awaited<ReturnType<typeof http.run>> | undefined;
    const base = await new Promise<string>((resolve, reject) => {
      void http
        .run(request(bytes, { signal: controller.signal, onEndpoint: resolve }))
        .then((r) => {
          finished = r;
          reject(new Error(`the daemon ended before serving: ${JSON.stringify(r.error)}`));
        });
    });
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const a = await fetch(`${base}/one?x=1`);
    expect(a.status).toBe(200);
    expect(await a.text()).toBe("hello from /one?x=1\n");
    const b = await fetch(`${base}/two`);
    expect(await b.text()).toBe("hello from /two\n");
    // body cap: 1 MiB by default
    const big = await fetch(`${base}/big`, { method: "POST", body: new Uint8Array(2 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(finished).toBeUndefined();
    controller.abort("stop serving");
    await new Promise((r) => setTimeout(r, 300));
    expect(finished?.outcome).toBe("stopped");
    await expect(fetch(`${base}/after`)).rejects.toThrow();
  });
});
