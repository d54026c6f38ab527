import { afterAll, describe, expect, it } from "vitest";
import { MqttConnection, startEmbeddedBroker, topicMatches } from "../index.js";
import { SizeLimitError } from "../../protocol/index.js";
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
