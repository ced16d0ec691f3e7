/**
 * HTML for the console's pages, written as tagged templates: every interpolated value is
 * escaped unless it is already `Html` (made by `html` or `raw`), so recipient data, payloads
 * and error texts can never become markup. Written here rather than with a template engine:
 * the pages are small, server-rendered, and this is the whole escaping rule in one place.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Value = Html | string | number | boolean | null | undefined | readonly Value[];

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

function part(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? '');
  });
  return new Html(out);
}

/** Markup that is already safe (made here, never from input). */
export const raw = (text: string): Html => new Html(text);

/** A query string from the set values of `params`. */
export function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** An instant as the console shows it: UTC, to the second (the title has the full ISO). */
export function when(at: string | Date | null | undefined): Html {
  if (!at) return html`<span class="muted">–</span>`;
  const iso = new Date(at).toISOString();
  return html`<time datetime="${iso}" title="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>`;
}

/** A duration in ms, readable: 850 ms, 12.3 s, 4 min, 2.5 h. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** A status as a badge whose colour the stylesheet picks by class. */
export const badge = (status: string): Html =>
  html`<span class="badge s-${status.replace(/[^a-z_]/g, '')}">${status}</span>`;

/** JSON, pretty, escaped, in a <pre>. */
export const jsonBlock = (value: unknown): Html =>
  html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
