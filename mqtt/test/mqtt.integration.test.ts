import { afterAll, describe, expect, it } from "vitest";
import { MqttConnection, startEmbeddedBroker, topicMatches } from "../index.js";
import mqtt from "mqtt";
import { encodedTraceparent, encodeManagerOnline, SizeLimitError, type TraceCarrier } from "../../protocol/index.js";
import { startPrivateMosquitto } from "../../testing/mosquitto.js";
import { uniqueTopicRoot, waitFor } from "../../testing/net.js";

describe("topicMatches", () => {
  it.each([
    ["a/+/c", "a/b/c", true],
    ["a/+/c", "a/b/d", false],
    ["a/#", "a/b/c", true],
    ["a/#", "a", true],
    ["a/b", "a/b/c", false],
    ["+/+", "a/b", true],
    ["#", "x/y", true],
  ])("%s ~ %s → %s", (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe("embedded broker", () => {
  it("carries QoS 1 messages between two clients and refuses oversized publishes", async () => {
    const broker = await startEmbeddedBroker();
    const a = await MqttConnection.connect({ url: broker.url, clientId: "a", maxPayloadBytes: 1024 });
    const b = await MqttConnection.connect({ url: broker.url, clientId: "b" });
    const root = uniqueTopicRoot();
    const got: string[] = [];
    await b.subscribe(`${root}/+/x`, (_t, p) => void got.push(p.toString()));
    await a.publish(`${root}/1/x`, Buffer.from("hello"));
    await waitFor(() => got.length === 1, 5000, "message");
    expect(got).toEqual(["hello"]);
    await expect(a.publish(`${root}/1/x`, Buffer.alloc(2048))).rejects.toBeInstanceOf(SizeLimitError);
    await a.close();
    await b.close();
    await broker.close();
  });
});

describe("reconnect (real Mosquitto restarted)", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("resubscribes after the broker restarts, clean session or not", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const root = uniqueTopicRoot();
    for (const clean of [true, false]) {
      const sub = await MqttConnection.connect({ url: mosquitto.url, clientId: `sub-${clean}`, clean, reconnectPeriodMs: 100 });
      let connects = 0;
      sub.onConnect(() => void connects++);
      const got: string[] = [];
      await sub.subscribe(`${root}/t`, (_t, p) => void got.push(p.toString()));
      await mosquitto.stop();
      await mosquitto.start(); // persistence off: the broker forgot every subscription
      await waitFor(() => connects >= 1 && sub.connected, 10_000, "reconnect");
      const pub = await MqttConnection.connect({ url: mosquitto.url, clientId: `pub-${clean}` });
      await waitFor(async () => {
        await pub.publish(`${root}/t`, Buffer.from("after-restart"));
        return got.includes("after-restart");
      }, 10_000, "message after restart");
      await pub.close();
      await sub.close();
    }
  });
});

describe("trace context in MQTT 5 user properties", () => {
  const TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("on real Mosquitto: an encoded payload's envelope traceparent goes out as a user property and comes in validated", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const root = uniqueTopicRoot();
    const a = await MqttConnection.connect({ url: mosquitto.url, clientId: "v5-a", protocolVersion: 5 });
    const b = await MqttConnection.connect({ url: mosquitto.url, clientId: "v5-b", protocolVersion: 5 });
    const v4 = await MqttConnection.connect({ url: mosquitto.url, clientId: "v4-c" });
    cleanups.push(() => a.close(), () => b.close(), () => v4.close());
    const got: Array<{ payload: string; trace: TraceCarrier | undefined }> = [];
    const gotV4: Array<TraceCarrier | undefined> = [];
    await b.subscribe(`${root}/#`, (_t, p, trace) => void got.push({ payload: p.toString(), trace }));
    await v4.subscribe(`${root}/#`, (_t, _p, trace) => void gotV4.push(trace));
    const payload = encodeManagerOnline({ kind: "manager.online", managerId: "m1", traceparent: TP });
    expect(encodedTraceparent(payload)).toBe(TP);
    await a.publish(`${root}/envelope`, payload);
    // An explicit carrier wins and takes a tracestate along.
    await a.publish(`${root}/explicit`, Buffer.from("raw"), { trace: { traceparent: TP, tracestate: "vendor=abc,other@sys=1" } });
    // A payload not made by encode, no carrier: no properties.
    await a.publish(`${root}/none`, Buffer.from("plain"));
    await waitFor(() => got.length === 3 && gotV4.length === 3, 5000, "messages");
    expect(got[0]!.trace).toEqual({ traceparent: TP });
    expect(got[1]!.trace).toEqual({ traceparent: TP, tracestate: "vendor=abc,other@sys=1" });
    expect(got[2]!.trace).toBeUndefined();
    // A 3.1.1 subscriber gets the messages without properties (the envelope still carries the trace).
    expect(gotV4).toEqual([undefined, undefined, undefined]);
  });

  it("on real Mosquitto: invalid user properties from another client are ignored (the envelope stays the carrier)", async () => {
    const mosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.dispose());
    const root = uniqueTopicRoot();
    const b = await MqttConnection.connect({ url: mosquitto.url, clientId: "v5-recv", protocolVersion: 5 });
    cleanups.push(() => b.close());
    const got: Array<TraceCarrier | undefined> = [];
    await b.subscribe(`${root}/#`, (_t, _p, trace) => void got.push(trace));
    const raw = await mqtt.connectAsync(mosquitto.url, { protocolVersion: 5, clientId: "raw-v5" });
    cleanups.push(() => raw.endAsync());
    const send = (userProperties: Record<string, string | string[]>) => raw.publishAsync(`${root}/x`, "x", { qos: 1, properties: { userProperties } });
    await send({ traceparent: "not-a-traceparent" });
    await send({ traceparent: "00-00000000000000000000000000000000-b7ad6b7169203331-01" });
    await send({ traceparent: [TP, TP] });
    await send({ traceparent: TP, tracestate: "BAD STATE" });
    await waitFor(() => got.length === 4, 5000, "messages");
    expect(got).toEqual([undefined, undefined, undefined, { traceparent: TP }]);
  });

  it("on aedes (MQTT 3.1.1 only): version 4 works as before and sends no properties; version 5 is refused", async () => {
    const broker = await startEmbeddedBroker();
    cleanups.push(() => broker.close());
    const root = uniqueTopicRoot();
    const a = await MqttConnection.connect({ url: broker.url, clientId: "aedes-a" });
    const b = await MqttConnection.connect({ url: broker.url, clientId: "aedes-b" });
    cleanups.push(() => a.close(), () => b.close());
    const got: Array<{ payload: string; trace: TraceCarrier | undefined }> = [];
    await b.subscribe(`${root}/#`, (_t, p, trace) => void got.push({ payload: p.toString(), trace }));
    await a.publish(`${root}/x`, encodeManagerOnline({ kind: "manager.online", managerId: "m1", traceparent: TP }), { trace: { traceparent: TP } });
    await waitFor(() => got.length === 1, 5000, "message");
    expect(got[0]!.trace).toBeUndefined();
    expect(JSON.parse(got[0]!.payload).traceparent).toBe(TP);
    await expect(MqttConnection.connect({ url: broker.url, clientId: "aedes-v5", protocolVersion: 5, connectTimeoutMs: 2000, reconnectPeriodMs: 0 })).rejects.toThrow();
  });
});
