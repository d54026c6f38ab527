// The wasi-p1 runtime with spare workers (started before their runs): the same answers as fresh
// workers, and nothing of one run reaches the next, since a spare serves one run and is discarded.
import { afterAll, describe, expect, it } from "vitest";
import { WasiP1Runtime } from "../execute/wasi-p1/runtime.js";
import { LIMITS_FOR_TESTS, example, runRequest as request, text, wat } from "./helpers.js";

const runtime = new WasiP1Runtime({ spareWorkers: 2 });
afterAll(() => runtime.close());


describe("wasi-p1 on spare workers", () => {
  it("runs a WASI command with its own args, env and stdin, run after run", async () => {
    const hello = await example("hello/hello.wasm");
    for (const who of ["Ada", "Grace", "Edsger"]) {
      const r = await runtime.run(request(hello, { args: [who], env: { GREETING: `Hi ${who}` }, stdin: Buffer.from(who) }));
      expect(r.error).toBeNull();
      expect(text(r.stdout)).toBe(`Hi ${who}, ${who}!\nstdin: ${who}\nread ${who.length} bytes from stdin\n`);
    }
  });

  it("never carries a global or memory from one run into the next", async () => {
    const counter = await wat("counter");
    const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => runtime.run(request(counter, { runId: `c${i}`, entrypoint: { kind: "export", name: "bump", inputs: [] } }))));
    for (const r of runs) expect(r.returnValues).toEqual([1001]);
  });

  it("a runaway guest on a spare is ended at its deadline, and the next run is served", async () => {
    const r = await runtime.run(request(await wat("loop"), { limits: { ...LIMITS_FOR_TESTS, timeoutMs: 1500 } }));
    expect(r.error?.code).toBe("timeout");
    const next = await runtime.run(request(await example("add/add.wasm"), { entrypoint: { kind: "export", name: "add", inputs: [40, 2] } }));
    expect(next.returnValues).toEqual([42]);
  });

  it("many runs writing through WASI in a row do not crash the process (node:wasi fast-call trap)", async () => {
    const hello = await example("hello/hello.wasm");
    for (let i = 0; i < 10; i++) {
      const r = await runtime.run(request(hello, { runId: `h${i}` }));
      expect(r.exitCode).toBe(0);
    }
  });

  it("close() ends the idle spares; a later run still runs (and starts them again)", async () => {
    await runtime.close();
    const r = await runtime.run(request(await example("add/add.wasm"), { entrypoint: { kind: "export", name: "add", inputs: [1, 2] } }));
    expect(r.returnValues).toEqual([3]);
  });
});
