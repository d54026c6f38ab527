import { describe, expect, it } from "vitest";
import { adoptTraceCarrier, encodedTraceparent, encodeManagerOnline, traceCarrierFromUserProperties, traceUserProperties, validTraceparent, validTracestate } from "../index.js";

const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

describe("trace context in MQTT 5 user properties", () => {
  it("accepts only a W3C traceparent of version 00 with non-zero ids", () => {
    expect(validTraceparent(TP)).toBe(true);
    for (const bad of ["", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331", `${TP}-x`, TP.toUpperCase(), "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", 42, undefined]) {
      expect(validTraceparent(bad), String(bad)).toBe(false);
    }
  });

  it("accepts a tracestate of at most 32 members and 512 characters, in the spec's alphabet", () => {
    expect(validTracestate("vendor=abc")).toBe(true);
    expect(validTracestate("a=1, tenant@sys=x y")).toBe(true);
    for (const bad of ["", "NoUpper=1", "k=", "k=v=1,", "k=\u00e9", Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(","), `k=${"v".repeat(600)}`]) {
      expect(validTracestate(bad), bad).toBe(false);
    }
  });

  it("reads a carrier from user properties: a repeated or bad traceparent is none, a bad tracestate is dropped alone", () => {
    expect(traceCarrierFromUserProperties(undefined)).toBeUndefined();
    expect(traceCarrierFromUserProperties({ traceparent: [TP, TP] })).toBeUndefined();
    expect(traceCarrierFromUserProperties({ traceparent: "nope" })).toBeUndefined();
    expect(traceCarrierFromUserProperties({ traceparent: TP, tracestate: "BAD" })).toEqual({ traceparent: TP });
    expect(traceCarrierFromUserProperties({ traceparent: TP, tracestate: "v=1" })).toEqual({ traceparent: TP, tracestate: "v=1" });
    expect(traceUserProperties({ traceparent: TP })).toEqual({ traceparent: TP });
  });

  it("prefers the carrier over the envelope, and leaves the message alone without one", () => {
    const msg = { kind: "x", traceparent: "00-11111111111111111111111111111111-2222222222222222-01" };
    expect(adoptTraceCarrier(msg, undefined)).toBe(msg);
    expect(adoptTraceCarrier(msg, { traceparent: TP, tracestate: "v=1" })).toEqual({ kind: "x", traceparent: TP, tracestate: "v=1" });
  });

  it("remembers the envelope traceparent of each payload encode made", () => {
    const payload = encodeManagerOnline({ kind: "manager.online", managerId: "m1", traceparent: TP });
    expect(encodedTraceparent(payload)).toBe(TP);
    expect(encodedTraceparent(Buffer.from(payload))).toBeUndefined();
  });
});
