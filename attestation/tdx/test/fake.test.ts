import { describe, expect, it } from "vitest";
import { verifyTdxQuote } from "../verify-quote.js";
import { fakeCollateral, fakePki, fakeQuote, FAKE_EPOCH } from "./fake-dcap.js";

describe("fake DCAP smoke", () => {
  it("verifies", async () => {
    const pki = await fakePki();
    const q = await fakeQuote(pki);
    const v = await verifyTdxQuote(q.bytes, { now: FAKE_EPOCH, trustAnchorPem: pki.rootPem, collateral: await fakeCollateral(pki) });
    console.log(v.result.checks.filter((c) => !c.ok), v.result.claims.tcb_status);
    expect(v.result.ok).toBe(true);
  });
});
