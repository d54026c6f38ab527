import { describe, expect, it } from "vitest";
import { WasiP1Runtime } from "../execute/wasi-p1/runtime.js";
import { LIMITS_FOR_TESTS, example, runRequest as request, text, wat } from "./helpers.js";

const runtime = new WasiP1Runtime();


describe("wasi-p1 runtime (real worker threads, real Wasm)", () => {
  it("runs hello with args, env and stdin; captures stdout, stderr and the exit code", async () => {
    const r = await runtime.run(
      request(await example("hello/hello.wasm"), {
        args: ["Ada", "Lovelace"],
        env: { GREETING: "Bonjour", EXIT_CODE: "7" },
        stdin: Buffer.from("piped bytes"),
      }),
    );
    expect(r.error).toBeNull();
    expect(r.outcome).toBe("completed");
    expect(r.exitCode).toBe(7);
    expect(text(r.stdout)).toBe("Bonjour, Ada Lovelace!\nstdin: piped bytes\nread 11 bytes from stdin\n");
    expect(text(r.stderr)).toBe("hello: done\n");
    expect(r.startedAt).toBeInstanceOf(Date);
  });

  it("passes no ambient environment to the workload", async () => {
    process.env.GREETING = "Leaked";
    try {
      const r = await runtime.run(request(await example("hello/hello.wasm")));
      expect(text(r.stdout)).toMatch(/^Hello, world!\n/);
      expect(r.exitCode).toBe(0);
    } finally {
      delete process.env.GREETING;
    }
  });

  it("calls a named export with i32, i64 and float inputs and returns typed values", async () => {
    const add = await example("add/add.wasm");
    const r1 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "add", inputs: [40, 2] } }));
    expect(r1.error).toBeNull();
    expect(r1.returnValues).toEqual([42]);
    expect(r1.exitCode).toBeNull();
    // i32 wraps like the machine does
    const r2 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "add", inputs: [2147483647, 1] } }));
    expect(r2.returnValues).toEqual([-2147483648]);
    // i64 in from a decimal string, out as a decimal string (beyond 2^53)
    const r3 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "fib", inputs: ["90"] } }));
    expect(r3.returnValues).toEqual(["2880067194370816120"]);
    const r4 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "scale", inputs: [1.5, 4] } }));
    expect(r4.returnValues).toEqual([6]);
  });

  it("refuses wrong inputs and missing exports before starting a worker", async () => {
    const add = await example("add/add.wasm");
    const r1 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "add", inputs: [1] } }));
    expect(r1.outcome).toBe("failed");
    expect(r1.error?.code).toBe("invalid_inputs");
    expect(r1.startedAt).toBeNull();
    const r2 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "nope", inputs: [] } }));
    expect(r2.error?.code).toBe("export_not_found");
    const r3 = await runtime.run(request(add, { entrypoint: { kind: "export", name: "add", inputs: [1, "99999999999"] } }));
    expect(r3.error?.code).toBe("invalid_inputs");
    // a library module has no _start
    const r4 = await runtime.run(request(add));
    expect(r4.error?.code).toBe("export_not_found");
  });

  it("fails invalid Wasm with invalid_wasm", async () => {
    const r1 = await runtime.run(request(Buffer.from("not wasm at all")));
    expect(r1.outcome).toBe("failed");
    expect(r1.error?.code).toBe("invalid_wasm");
    // right header, broken body: caught by the section reader or the compiler
    const hello = await example("hello/hello.wasm");
    const broken = Uint8Array.from(hello.subarray(0, 200));
    const r2 = await runtime.run(request(broken));
    expect(r2.error?.code).toBe("invalid_wasm");
    const garbage = Uint8Array.from(hello);
    garbage.fill(0xff, 100, 400);
    const r3 = await runtime.run(request(garbage));
    expect(r3.error?.code).toBe("invalid_wasm");
  });

  it("reports a trap with its message and the output written before it", async () => {
    const r = await runtime.run(request(await wat("trap")));
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("trap");
    expect(r.error?.message).toMatch(/unreachable/);
    expect(text(r.stdout)).toBe("before the trap\n");
  });

  it("turns unbounded recursion (stack exhaustion) into a trap", async () => {
    const r = await runtime.run(request(await wat("recurse")));
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("trap");
    expect(r.error?.message).toMatch(/call stack/i);
    // and the runtime still runs the next module
    const next = await runtime.run(request(await example("add/add.wasm"), { entrypoint: { kind: "export", name: "add", inputs: [1, 2] } }));
    expect(next.returnValues).toEqual([3]);
  });

  it("stops a runaway loop at the wall-clock timeout", async () => {
    const started = Date.now();
    const r = await runtime.run(request(await wat("loop"), { limits: { ...LIMITS_FOR_TESTS, timeoutMs: 1500 } }));
    const took = Date.now() - started;
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("timeout");
    expect(took).toBeGreaterThanOrEqual(1500);
    expect(took).toBeLessThan(10_000); // terminate() takes milliseconds; slack for a loaded machine
  });

  it("caps linear memory: memory.grow fails at the cap, whatever the module declares", async () => {
    const grow = await wat("grow");
    const capBytes = 2 * 1024 * 1024; // 32 pages
    const r = await runtime.run(request(grow, { entrypoint: { kind: "export", name: "grow_all", inputs: [] }, limits: { ...LIMITS_FOR_TESTS, memoryBytes: capBytes } }));
    expect(r.error).toBeNull();
    expect(r.returnValues).toEqual([32]);
    const r2 = await runtime.run(request(grow, { entrypoint: { kind: "export", name: "grow", inputs: [1000] }, limits: { ...LIMITS_FOR_TESTS, memoryBytes: capBytes } }));
    expect(r2.returnValues).toEqual([-1]);
    // a larger cap lets the same module grow further: the cap, not the module, decides
    const r3 = await runtime.run(request(grow, { entrypoint: { kind: "export", name: "grow", inputs: [1000] }, limits: { ...LIMITS_FOR_TESTS, memoryBytes: 128 * 1024 * 1024 } }));
    expect(r3.returnValues).toEqual([1]);
  });

  it("refuses a module whose initial memory exceeds the cap", async () => {
    const r = await runtime.run(request(await wat("big-initial"), { limits: { ...LIMITS_FOR_TESTS, memoryBytes: 16 * 1024 * 1024 } }));
    expect(r.outcome).toBe("failed");
    expect(r.error?.code).toBe("memory_limit");
    const ok = await runtime.run(request(await wat("big-initial"), { limits: { ...LIMITS_FOR_TESTS, memoryBytes: 32 * 1024 * 1024 } }));
    expect(ok.error).toBeNull();
    expect(ok.exitCode).toBe(0);
  });

  it("truncates output at the cap and says so", async () => {
    const r = await runtime.run(request(await wat("spew"), { limits: { ...LIMITS_FOR_TESTS, outputBytes: 1000 } }));
    expect(r.outcome).toBe("completed");
    expect(r.exitCode).toBe(0);
    expect(r.stdout.byteLength).toBe(1000);
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stderrTruncated).toBe(false);
    expect(text(r.stdout).startsWith("0123456789")).toBe(true);
  });

  it("a stop that comes while the module compiles starts no worker", async () => {
    const controller = new AbortController();
    const pending = runtime.run(request(await example("primes/primes.wasm"), { args: ["30000000"], signal: controller.signal }));
    controller.abort("early stop"); // prepare() is still compiling: the abort lands before the worker exists
    const t0 = Date.now();
    const r = await pending;
    expect(r.outcome).toBe("stopped");
    expect(r.startedAt).toBeNull();
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("stops a run when its signal is aborted", async () => {
    const controller = new AbortController();
    const pending = runtime.run(request(await wat("loop"), { signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 700));
    controller.abort("stopped by the manager");
    const r = await pending;
    expect(r.outcome).toBe("stopped");
    expect(r.error).toEqual({ code: "stopped", message: "stopped by the manager" });
  });
});
