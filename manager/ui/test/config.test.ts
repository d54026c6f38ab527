/** The dashboard's settings: on by default, a KBS only over HTTPS (or loopback) and with a credential. */
import { describe, expect, it } from "vitest";
import { resolveUiConfig } from "../config.js";

describe("ui config", () => {
  it("is on by default with no KBS", () => {
    const problems: string[] = [];
    expect(resolveUiConfig(undefined, problems)).toEqual({ enabled: true, kbs: null });
    expect(resolveUiConfig({ enabled: false }, problems).enabled).toBe(false);
    expect(problems).toEqual([]);
  });

  it("takes a KBS with a key or a token; refuses plain HTTP beyond loopback and a KBS without a credential, never echoing the token", () => {
    const problems: string[] = [];
    expect(resolveUiConfig({ kbs: { url: "https://kbs.example:8443", key: { id: "dashboard", pem: "-----BEGIN PRIVATE KEY-----" } } }, problems).kbs?.url).toBe("https://kbs.example:8443/");
    expect(resolveUiConfig({ kbs: { url: "http://127.0.0.1:8080", token: "t" } }, problems).kbs?.token).toBe("t");
    expect(problems).toEqual([]);
    resolveUiConfig({ kbs: { url: "http://kbs.example", token: "s3cr3t-token" } }, problems);
    resolveUiConfig({ kbs: { url: "https://kbs.example" } }, problems);
    resolveUiConfig({ kbs: { url: "not a url", token: "x" } }, problems);
    resolveUiConfig({ kbs: { url: "https://kbs.example", key: { id: "", pem: "x" } } }, problems);
    expect(problems).toHaveLength(4);
    expect(problems.join("\n")).toMatch(/https:\/\/ \(http:\/\/ only on loopback\)[\s\S]*needs an admin token[\s\S]*must be an http\(s\) URL[\s\S]*needs id and pem/);
    expect(problems.join("\n")).not.toContain("s3cr3t");
  });
});
