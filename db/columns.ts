/**
 * Reading one column of a row. PostgreSQL (pg) and PGlite hand back timestamps as Date and jsonb
 * already parsed; these accept the string forms too, so a driver setting that changes that does
 * not silently turn a date into a string or an object into text.
 */

/** A row as both drivers return it. */
export type Row = Record<string, unknown>;

export function columnDate(v: unknown): Date {
  return v instanceof Date ? v : new Date(String(v));
}

export function columnDateOrNull(v: unknown): Date | null {
  return v === null || v === undefined ? null : columnDate(v);
}

export function columnJson<T>(v: unknown): T {
  return (typeof v === "string" ? JSON.parse(v) : v) as T;
}

/** bigint and numeric columns come back as strings from pg; counts fit a double here. */
export function columnNumberOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
