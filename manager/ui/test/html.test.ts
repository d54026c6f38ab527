/** The dashboard's one escape function and the template built on it, with hostile values. */
import { describe, expect, it } from "vitest";
import { escapeHtml, html, uiHref } from "../html.js";
import { fleetPage, freeMemoryOf } from "../pages/fleet.js";
import { graphSvg, layers } from "../pages/workflows.js";
import { decodeToken } from "../pages/run.js";
import { withPendingReason } from "../pages/tasks.js";
import type { Proplet, Workflow } from "../../../protocol/api/index.js";

const HOSTILE = [
  `<script>alert(1)</script>`,
  `"><img src=x onerror=alert(1)>`,
  `' autofocus onfocus='alert(1)`,
  "` onmouseover=alert(1) x=`",
  `</textarea><svg onload=alert(1)>`,
  `&lt;already&gt; & &amp;`,
  "\u0000null\u0007bell\u001bescape",
];

describe("escapeHtml", () => {
  it("leaves no character that could open a tag, end an attribute or start an entity", () => {
    for (const h of HOSTILE) {
      const out = escapeHtml(h);
      expect(out).not.toMatch(/[<>"'`=]/);
      // Every & in the output starts one of our entities.
      expect(out.replace(/&(amp|lt|gt|quot|#39|#96|#61);/g, "")).not.toContain("&");
    }
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href&#61;&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("drops control characters but keeps tabs, newlines and non-ASCII text", () => {
    expect(escapeHtml("\u0000a\u0007b\u001bc\u007f")).toBe("abc");
    expect(escapeHtml("line 1\n\tline 2 · Größe ✓")).toBe("line 1\n\tline 2 · Größe ✓");
  });

  it("renders null and undefined as nothing, numbers and booleans as text", () => {
    expect(escapeHtml(null)).toBe("");
    expect(escapeHtml(undefined)).toBe("");
    expect(escapeHtml(42)).toBe("42");
  });
});

describe("html template", () => {
  it("escapes every interpolation in text and attribute positions", () => {
    for (const h of HOSTILE) {
      const out = html`<td title="${h}">${h}</td>`.text;
      expect(out.startsWith(`<td title="`)).toBe(true);
      expect(out.match(/</g)!.length).toBe(2); // only our <td> and </td>
      expect(out.match(/"/g)!.length).toBe(2); // only our attribute quotes
    }
  });

  it("does not escape fragments twice, and escapes each item of a list", () => {
    const inner = html`<b>${"<i>"}</b>`;
    expect(html`<p>${inner}</p>`.text).toBe("<p><b>&lt;i&gt;</b></p>");
    expect(html`<ul>${["<a>", html`<li>ok</li>`]}</ul>`.text).toBe("<ul>&lt;a&gt;<li>ok</li></ul>");
    expect(html`${null}${undefined}${false}`.text).toBe("");
  });

  it("only lets dashboard paths into links", () => {
    expect(uiHref("/ui/tasks/x")).toBe("/ui/tasks/x");
    expect(uiHref("/ui?x=1")).toBe("/ui?x=1");
    for (const bad of ["javascript:alert(1)", "//evil.example/ui", "https://evil.example/ui/", "/uix", "/tasks"]) expect(uiHref(bad)).toBe("#");
  });
});

describe("pages escape what they show", () => {
  const proplet = (id: string, name: string): Proplet => ({
    id,
    name,
    alive: true,
    capabilities: { runtimes: ["wasi-p1"], artifactSources: [], memoryBytes: 1 << 30, maxConcurrency: 4, tee: { type: "sample" }, tags: [`<b>tag</b>`] },
    running: 1,
    lastSeenAt: "2026-01-01T00:00:00.000Z",
    connectedAt: "2026-01-01T00:00:00.000Z",
  });

  it("fleet: a hostile proplet name and tag are text", () => {
    const out = fleetPage([proplet("p1", HOSTILE[1]!)], new Map(), new Map([["p1", 512 * 1024 * 1024]])).text;
    expect(out).not.toContain("<img");
    expect(out).not.toContain("<b>tag");
    expect(out).toContain("&quot;&gt;&lt;img src&#61;x onerror&#61;alert(1)&gt;");
    expect(out).toContain("512.0 MiB / 1.0 GiB");
  });

  it("fleet: a proplet's liveness history, newest first, its reasons as text", () => {
    const history = new Map([["p1", [
      { event: "online" as const, reason: null, at: "2026-01-01T00:02:00.000Z" },
      { event: "gone" as const, reason: HOSTILE[0]!, at: "2026-01-01T00:01:00.000Z" },
    ]]]);
    const out = fleetPage([proplet("p1", "p1")], new Map(), new Map(), history).text;
    expect(out).toContain("Liveness history");
    expect(out).not.toContain("<script>alert");
    expect(out).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(out.indexOf("2026-01-01 00:02:00")).toBeLessThan(out.indexOf("2026-01-01 00:01:00"));
  });

  it("fleet: free memory is read from the manager's metrics, label escapes undone", () => {
    const text = ['# HELP propeller_fleet_free_memory_bytes x', 'propeller_fleet_free_memory_bytes{proplet="a"} 100', 'propeller_fleet_free_memory_bytes{proplet="q\\"uote"} 2e3', 'other{proplet="a"} 5'].join("\n");
    expect([...freeMemoryOf(text)]).toEqual([["a", 100], ['q"uote', 2000]]);
  });

  it("workflow graph: nodes in columns by dependency depth, names escaped inside the SVG", () => {
    const node = (name: string, dependsOn: string[]) => ({ name, taskId: null, dependsOn, runIf: "success" as const, onFailure: "skip-dependants" as const, passResults: "none" as const, state: "pending", reason: null, startedAt: null, finishedAt: null });
    const wf = { id: "w", kind: "workflow", name: "<x>", mode: null, state: "running", reason: null, createdAt: "2026-01-01T00:00:00.000Z", startedAt: null, finishedAt: null, nodes: [node("a", []), node("b", ["a"]), node("c", ["a", "b"]), node("<svg onload=alert(1)>", ["c", "missing"])] } as unknown as Workflow;
    expect([...layers(wf.nodes)]).toEqual([["a", 0], ["b", 1], ["c", 2], ["<svg onload=alert(1)>", 3]]);
    const svg = graphSvg(wf).text;
    expect(svg.match(/<svg/g)!.length).toBe(1);
    expect(svg.match(/class="edge"/g)!.length).toBe(4);
    expect(svg).toContain("&lt;svg onload&#61;alert(1)&gt;");
  });

  it("workflow graph: a dependency cycle ends instead of recursing forever", () => {
    const node = (name: string, dependsOn: string[]) => ({ name, dependsOn }) as unknown as Workflow["nodes"][number];
    expect(layers([node("a", ["b"]), node("b", ["a"])]).size).toBe(2);
  });

  it("tasks: the pending-reason filter matches case-insensitively, * keeps every task that waits for a reason", () => {
    const t = (id: string, pendingReason: string | null) => ({ id, pendingReason }) as unknown as Parameters<typeof withPendingReason>[0][number];
    const tasks = [t("a", "no proplet offers TEE snp"), t("b", null), t("c", "waiting for a slot")];
    expect(withPendingReason(tasks, undefined).map((x) => x.id)).toEqual(["a", "b", "c"]);
    expect(withPendingReason(tasks, "*").map((x) => x.id)).toEqual(["a", "c"]);
    expect(withPendingReason(tasks, "TEE").map((x) => x.id)).toEqual(["a"]);
  });

  it("a token that is not a JWS is reported, not thrown", () => {
    expect(decodeToken("not.a.token")?.error).toBeTruthy();
    expect(decodeToken(null)).toBeNull();
  });
});
