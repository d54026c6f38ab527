/**
 * The dashboard's one way to build HTML: `html` is a tagged template that escapes every
 * interpolated value (text and attribute contexts alike), so a proplet, task or function name can
 * never become markup. Only `Html` values (the output of `html` itself) pass through unescaped.
 */

/** A fragment already escaped (built by `html`): interpolating it does not escape it again. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;", "=": "&#61;" };

/**
 * Text safe in element content and in quoted attribute values. Control characters other than tab
 * and newline are dropped (they have no business in a page, and some confuse terminals copying it).
 */
export function escapeHtml(value: unknown): string {
  const text = typeof value === "string" ? value : value === null || value === undefined ? "" : String(value);
  // eslint-disable-next-line no-control-regex -- the point is to remove control characters
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").replace(/[&<>"'`=]/g, (c) => ESCAPES[c]!);
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

function render(value: Value): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return (value as readonly Value[]).map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(value);
}

/** `html\`<td>${name}</td>\`` : every `${}` is escaped unless it is an Html fragment (or a list of them). */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/**
 * A URL for an href or a form action: only same-site paths under /ui (or `?query`) are allowed,
 * so a value can never become `javascript:` or send the user elsewhere. Anything else is "#".
 */
export function uiHref(path: string): string {
  return /^\/ui(\/|\?|$)/.test(path) && !path.startsWith("//") ? path : "#";
}

/** A path segment from an id or name (escaped again by `html` when interpolated). */
export const seg = (value: string): string => encodeURIComponent(value);
