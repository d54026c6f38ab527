/** RFC 6901 JSON pointer lookup ("" is the whole value; "/pcrs/7"; "~1" is "/", "~0" is "~"). */
export function resolvePointer(value: unknown, pointer: string): unknown {
  if (pointer === "") return value;
  if (!pointer.startsWith("/")) return undefined;
  let current: unknown = value;
  for (const raw of pointer.slice(1).split("/")) {
    const token = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (current === null || typeof current !== "object") return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, token)) return undefined;
    current = (current as Record<string, unknown>)[token];
  }
  return current;
}

export const JSON_POINTER_PATTERN = "^(/([^~/]|~[01])*)+$";

/** Equality for claim values: hex strings compare case-insensitively, numeric strings equal numbers. */
export function claimEquals(actual: unknown, expected: unknown): boolean {
  if (typeof actual === "string" && typeof expected === "string") {
    return /^[0-9a-fA-F]+$/.test(actual) && /^[0-9a-fA-F]+$/.test(expected) ? actual.toLowerCase() === expected.toLowerCase() : actual === expected;
  }
  if (typeof actual === "number" && typeof expected === "string") return /^-?\d+$/.test(expected) && Number(expected) === actual;
  if (typeof actual === "string" && typeof expected === "number") return /^-?\d+$/.test(actual) && Number(actual) === expected;
  return JSON.stringify(actual) === JSON.stringify(expected);
}

/** A claim as a number (numbers, decimal strings, 0x-hex strings), for minimum checks. */
export function claimNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" && /^\d{1,15}$/.test(value)) return Number(value);
  if (typeof value === "string" && /^0x[0-9a-fA-F]{1,13}$/.test(value)) return Number.parseInt(value.slice(2), 16);
  return undefined;
}

/** Short, log-safe rendering of a claim value for explanations. */
export function show(value: unknown): string {
  const text = value === undefined ? "absent" : JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}
