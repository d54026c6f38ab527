import { CollateralError } from "../errors.js";
import { messageOf } from "../../lib/errors.js";

/**
 * Intel PCS signs the exact bytes of one member of a JSON body (`{"tcbInfo":{…},"signature":"…"}`
 * signs the text of the `tcbInfo` value as served). Re-serialising the parsed object would change
 * spacing or key order and break the signature, so this finds the raw text span of each top-level
 * member. Duplicate top-level keys are rejected: JSON.parse would keep the last one, and a verifier
 * that checked one copy and used the other would be fooled.
 */

export interface MemberSpans {
  [key: string]: { start: number; end: number };
}

function ws(s: string, i: number): number {
  while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === "\n" || s[i] === "\r")) i++;
  return i;
}

/** Index just past the JSON string starting at `i` (which is a quote). */
function skipString(s: string, i: number): number {
  i++;
  while (i < s.length) {
    const ch = s[i];
    if (ch === "\\") i += 2;
    else if (ch === '"') return i + 1;
    else i++;
  }
  throw new CollateralError("unterminated JSON string");
}

/** Index just past the JSON value starting at `i`. Structure only; JSON.parse validates the text. */
function skipValue(s: string, i: number): number {
  const ch = s[i];
  if (ch === '"') return skipString(s, i);
  if (ch === "{" || ch === "[") {
    let depth = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '"') {
        i = skipString(s, i);
        continue;
      }
      if (c === "{" || c === "[") depth++;
      else if (c === "}" || c === "]") {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    throw new CollateralError("unbalanced JSON value");
  }
  while (i < s.length && !",}] \t\r\n".includes(s[i]!)) i++;
  return i;
}

export function topLevelMembers(text: string): MemberSpans {
  // Validate the whole body first, so the scanner below only ever walks well-formed JSON.
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CollateralError(`collateral is not JSON: ${messageOf(e)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CollateralError("collateral is not a JSON object");
  }
  const spans: MemberSpans = {};
  let i = ws(text, 0);
  i++; // "{"
  i = ws(text, i);
  if (text[i] === "}") return spans;
  for (;;) {
    const keyStart = i;
    i = skipString(text, i);
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    i = ws(text, i) + 1; // ":"
    i = ws(text, i);
    const start = i;
    i = skipValue(text, i);
    if (Object.prototype.hasOwnProperty.call(spans, key)) throw new CollateralError(`duplicate member "${key}" in collateral`);
    spans[key] = { start, end: i };
    i = ws(text, i);
    if (text[i] === ",") {
      i = ws(text, i + 1);
      continue;
    }
    return spans;
  }
}

/** The raw text of `member` and the hex `signature` next to it. */
export function signedMember(text: string, member: string): { signed: string; signatureHex: string } {
  const spans = topLevelMembers(text);
  const m = spans[member];
  const s = spans["signature"];
  if (!m) throw new CollateralError(`collateral has no "${member}" member`);
  if (!s) throw new CollateralError(`collateral has no "signature" member`);
  const signatureHex = JSON.parse(text.slice(s.start, s.end)) as unknown;
  if (typeof signatureHex !== "string" || !/^[0-9a-fA-F]{128}$/.test(signatureHex)) {
    throw new CollateralError("collateral signature is not 64 bytes of hex (raw r‖s)");
  }
  return { signed: text.slice(m.start, m.end), signatureHex };
}
