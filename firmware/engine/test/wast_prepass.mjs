#!/usr/bin/env node
// Converts one spec .wast script with wast2json, first taking out only the top-level commands that
// wast2json (wabt 1.0.32, which predates the Wasm 3.0 text syntax) cannot parse, so that the MVP
// commands of the same script still run.
//
//   node wast_prepass.mjs <file.wast> <outdir>   → <outdir>/<name>/<name>.json, .wasm files and
//                                                  <name>.dropped ("line<TAB>reason" per command)
//
// A text module wast2json cannot parse is first re-encoded with the newer wabt from npm (1.0.39,
// which reads more of the current text syntax, e.g. the atypical folded `if` of if.wast) and put
// back as `(module $name binary "...")`, also inside assert_invalid/assert_trap/... commands; the
// engine then judges that binary as usual. A module neither can parse is replaced by an empty
// binary module with a custom section "propeller-skip" holding the reason (same line, same $name), so that assertions on it, `register`
// of it and modules importing from it are skipped by that reason in the spec runner instead of
// silently running against the wrong module. Any other command is removed and listed in .dropped.
// Line numbers are kept: a replaced command is padded with the newlines it had.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import initWabt from "wabt";

const wabt = await initWabt();

const WAST2JSON = process.env.WAST2JSON ?? "wast2json";
const MAX_ROUNDS = 400;

/** Top-level forms of a .wast script: [start, end) offsets and 1-based first/last line. */
export function topLevelForms(text) {
  const forms = [];
  let depth = 0;
  let start = -1;
  let line = 1;
  let startLine = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\n") { line++; continue; }
    if (c === ";" && text[i + 1] === ";") {
      while (i < text.length && text[i] !== "\n") i++;
      i--;
      continue;
    }
    if (c === "(" && text[i + 1] === ";") {
      let nest = 1;
      i += 2;
      while (i < text.length && nest > 0) {
        if (text[i] === "\n") line++;
        if (text[i] === "(" && text[i + 1] === ";") { nest++; i += 2; continue; }
        if (text[i] === ";" && text[i + 1] === ")") { nest--; i += 2; continue; }
        i++;
      }
      i--;
      continue;
    }
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") i++;
        else if (text[i] === "\n") line++;
        i++;
      }
      continue;
    }
    if (c === "(") {
      if (depth === 0) { start = i; startLine = line; }
      depth++;
    } else if (c === ")") {
      depth--;
      if (depth === 0) forms.push({ start, end: i + 1, line: startLine, endLine: line });
      if (depth < 0) throw new Error(`unbalanced ")" at line ${line}`);
    }
  }
  return forms;
}

function hex(bytes) {
  return [...bytes].map((b) => "\\" + b.toString(16).padStart(2, "0")).join("");
}

function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** An empty binary module whose only section is the custom section "propeller-skip": reason. */
function placeholder(name, reason) {
  const tag = Buffer.from("propeller-skip");
  const payload = Buffer.from(reason.slice(0, 150));
  const body = [...leb(tag.length), ...tag, ...payload];
  const bytes = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, ...leb(body.length), ...body];
  return `(module${name ? " " + name : ""} binary "${hex(bytes)}")`;
}

/** The first "(module" form inside text (the form itself, or one level down in an assertion). */
function innerModule(text) {
  if (/^\(module\b/.test(text)) return { start: 0, end: text.length };
  const inner = topLevelForms(text.slice(1, -1)).find((f) => /^\(module\b/.test(text.slice(f.start + 1, f.end + 1)));
  return inner ? { start: inner.start + 1, end: inner.end + 1 } : null;
}

/** Re-encodes a text module with wabt.js; null if it cannot (or it is a binary/quote module). */
function reencode(formText) {
  const at = innerModule(formText);
  if (!at) return null;
  const mod = formText.slice(at.start, at.end);
  const head = /^\(module(\s+\$[^\s()"]+)?/.exec(mod);
  const rest = mod.slice(head[0].length).trimStart();
  if (/^(binary|quote|definition|instance)\b/.test(rest)) return null;
  let bytes;
  try {
    const m = wabt.parseWat("m.wat", mod, {});
    m.resolveNames();
    bytes = m.toBinary({}).buffer;
    m.destroy();
  } catch {
    return null;
  }
  const bin = `(module${head[1] ?? ""} binary "${hex(bytes)}")`;
  return formText.slice(0, at.start) + bin + formText.slice(at.end);
}

function render(text, forms, fate) {
  let out = "";
  let pos = 0;
  forms.forEach((f, k) => {
    const what = fate.get(k);
    if (!what) return;
    out += text.slice(pos, f.start);
    const pad = "\n".repeat(f.endLine - f.line);
    const body = what.kind === "placeholder" ? placeholder(what.name, what.reason) : what.kind === "rewrite" || what.kind === "placeholder-in" ? what.text.replace(/\n/g, " ") : "";
    out += body + pad;
    pos = f.end;
  });
  return out + text.slice(pos);
}

function convert(wastText, dir, name) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${name}.wast`);
  writeFileSync(src, wastText);
  const r = spawnSync(WAST2JSON, [src, "-o", join(dir, `${name}.json`)], { encoding: "utf8" });
  if (!process.env.PREPASS_KEEP) rmSync(src, { force: true });
  return { ok: r.status === 0, stderr: r.stderr ?? String(r.error ?? "") };
}

function shortReason(msg) {
  const m = msg.replace(/\s+/g, " ").trim();
  return `Wasm 3.0 text syntax wast2json 1.0.32 cannot parse (${m.length > 70 ? m.slice(0, 70) + "…" : m})`;
}

export function prepass(wastPath, outDir) {
  const name = basename(wastPath, ".wast");
  const dir = join(outDir, name);
  const text = readFileSync(wastPath, "utf8");
  const forms = topLevelForms(text);
  const fate = new Map(); // form index → { kind: "rewrite" | "drop" | "placeholder", text?, name?, reason }
  const decide = (k, reason) => {
    const f = forms[k];
    const head = text.slice(f.start, Math.min(f.end, f.start + 200));
    const was = fate.get(k)?.kind;
    if (!was) {
      const again = reencode(text.slice(f.start, f.end));
      if (again) {
        fate.set(k, { kind: "rewrite", text: again, reason });
        return;
      }
    }
    // an assertion that instantiates keeps its place (with a placeholder module) so the runner
    // knows that state it shares with registered modules may have changed
    const inner = /^\((assert_trap|assert_unlinkable|assert_uninstantiable)\b/.test(head) ? innerModule(text.slice(f.start, f.end)) : null;
    if (inner && was !== "placeholder-in") {
      const t = text.slice(f.start, f.end);
      fate.set(k, { kind: "placeholder-in", text: t.slice(0, inner.start) + placeholder("", reason) + t.slice(inner.end), reason });
    } else if (/^\(module\b/.test(head) && was !== "placeholder") {
      const id = /^\(module\s+(?:definition\s+|instance\s+)?(\$[^\s()"]+)/.exec(head);
      fate.set(k, { kind: "placeholder", name: id ? id[1] : "", reason });
    } else {
      fate.set(k, { kind: "drop", reason });
    }
  };
  const formAt = (line) => forms.findIndex((f) => f.line <= line && line <= f.endLine);
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const r = convert(render(text, forms, fate), dir, name);
    if (r.ok) break;
    const errors = [...r.stderr.matchAll(/\.wast:(\d+):\d+: error: ([^\n]*)/g)];
    let progressed = false;
    const seen = new Set();
    for (const [, line, msg] of errors) {
      const k = formAt(Number(line));
      if (k < 0 || seen.has(k) || fate.get(k)?.kind === "drop") continue;
      seen.add(k);
      let reason = shortReason(msg);
      if (/^unknown (function|global) export|^unknown module/.test(msg)) {
        for (let j = k - 1; j >= 0; j--) {
          if (!/^\(module\b/.test(text.slice(forms[j].start, forms[j].start + 8))) continue;
          if (fate.get(j)?.kind === "placeholder") reason = fate.get(j).reason;
          break;
        }
      }
      decide(k, reason);
      progressed = true;
    }
    if (progressed) continue;
    if (forms.every((_, k) => fate.get(k)?.kind === "drop")) {
      // nothing left: wast2json refuses an empty script, so write its empty command list
      writeFileSync(join(dir, `${name}.json`), JSON.stringify({ source_filename: `${name}.wast`, commands: [] }));
      break;
    }
    // wast2json crashed (an assertion, no line): find the first form it crashes on by bisection.
    let lo = 0;
    let hi = forms.length; // the prefix of length hi fails
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const keep = new Map(fate);
      for (let k = mid; k < forms.length; k++) keep.set(k, { kind: "drop", reason: "" });
      if (convert(render(text, forms, keep), dir, name).ok) lo = mid;
      else hi = mid;
    }
    const k = hi - 1;
    if (k < 0 || fate.get(k)?.kind === "drop") throw new Error(`${name}: wast2json fails and no command is to blame:\n${r.stderr}`);
    const first = r.stderr.split("\n").find((l) => l.trim()) ?? "crash";
    decide(k, `wast2json 1.0.32 crashes on this Wasm 3.0 command (${first.replace(/^.*?: /, "").slice(0, 60)})`);
  }
  const dropped = [...fate.entries()]
    .filter(([, v]) => v.kind === "drop")
    .map(([k, v]) => `${forms[k].line}\t${v.reason}\n`)
    .join("");
  writeFileSync(join(dir, `${name}.dropped`), dropped);
  const count = (kind) => [...fate.values()].filter((v) => v.kind === kind).length;
  return { name, rewritten: count("rewrite"), replaced: count("placeholder") + count("placeholder-in"), dropped: count("drop") };
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  const [wast, out] = process.argv.slice(2);
  if (!wast || !out) {
    console.error("usage: wast_prepass.mjs <file.wast> <outdir>");
    process.exit(2);
  }
  const r = prepass(wast, out);
  if (r.rewritten || r.replaced || r.dropped)
    console.log(`${r.name}: ${r.rewritten} command(s) re-encoded with wabt.js, ${r.replaced} module(s) replaced, ${r.dropped} command(s) dropped (post-MVP syntax)`);
}
