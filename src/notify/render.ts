/**
 * Renders a notification type's templates for one channel and locale.
 *
 * - Locale fallback: the exact locale ('de-AT'), then its language ('de'), then the type's own
 *   templates; field by field, so a locale may override only the subject.
 * - A missing variable is an error naming the template and the variable (Handlebars strict
 *   mode), never an empty string in a message someone receives.
 * - HTML is escaped only where the output is HTML (email `html`); SMS, push, subjects and text
 *   bodies are plain text, where `&amp;` would be a visible bug.
 * - Slack: values from the data are escaped as Slack asks (`&`, `<`, `>` as `&amp;`, `&lt;`,
 *   `&gt;`, which Slack shows as the characters), so a value cannot mention `<!channel>` or make
 *   a link; in `blocks`, which render to JSON, also as JSON string content, so a quote in a
 *   value cannot break the array. The template's own text is left as written.
 * - Prototype properties and methods are never reachable from templates.
 * - Partials (`{{> name}}`) take the escaping of the template that uses them: escaped in email
 *   html, plain elsewhere. A missing partial is an error naming it.
 * - A layout wraps the rendered email html at `{{{body}}}` (and the email text, when the layout
 *   has a text part); its other variables come from the same data. The type's `layout` names
 *   it; absent, the layout named `default` applies when there is one; `false`: none.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import { ValidationError, toError, type FieldIssue } from '../errors.js';
import { CHANNELS, type Channel, type TypeDefinition } from './types.js';

/** The body of POST /v1/types/{name}/preview: one channel (default all), a locale, the data. */
export const previewSchema = z.strictObject({
  channel: z.enum(CHANNELS).optional(),
  locale: z.string().min(2).max(35).optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});

const hb = Handlebars.create();
const RUNTIME: Handlebars.RuntimeOptions = {
  allowProtoPropertiesByDefault: false,
  allowProtoMethodsByDefault: false,
};
const HTML_FIELDS = new Set(['email.html']);

/** A layout: `source` wraps the email html at `{{{body}}}`; `text`, if given, the email text. */
export interface Layout {
  source: string;
  text?: string | undefined;
}

/** Layouts and partials by name (what `TemplateParts.current()` answers). */
export interface RenderParts {
  partials: Record<string, string>;
  layouts: Record<string, Layout>;
}

const NO_PARTS: RenderParts = { partials: {}, layouts: {} };

/**
 * Compiled templates by escaping mode and source, least recently used first; bounded by count
 * and by the length of the sources kept (templates may be up to 100,000 characters each).
 */
const cache = new Map<string, HandlebarsTemplateDelegate>();
const CACHE_MAX_ENTRIES = 2_000;
const CACHE_MAX_CHARS = 16 * 1024 * 1024;
let cachedChars = 0;

function compiled(source: string, escapeHtml: boolean): HandlebarsTemplateDelegate {
  const key = `${escapeHtml ? 'h' : 't'}:${source}`;
  let template = cache.get(key);
  if (template) {
    cache.delete(key); // re-inserted below: now the most recently used
  } else {
    template = hb.compile(source, { strict: true, noEscape: !escapeHtml });
    cachedChars += key.length;
  }
  cache.set(key, template);
  while (cache.size > 1 && (cache.size > CACHE_MAX_ENTRIES || cachedChars > CACHE_MAX_CHARS)) {
    const oldest = cache.keys().next().value as string;
    cache.delete(oldest);
    cachedChars -= oldest.length;
  }
  return template;
}

/** The partials of one `parts` snapshot, compiled for one escaping mode (made once per snapshot). */
const partialsByParts = new WeakMap<RenderParts, { h?: PartialFns; t?: PartialFns }>();
type PartialFns = Record<string, HandlebarsTemplateDelegate>;

function partialsFor(parts: RenderParts, escapeHtml: boolean): PartialFns {
  let entry = partialsByParts.get(parts);
  if (!entry) partialsByParts.set(parts, (entry = {}));
  const mode = escapeHtml ? 'h' : 't';
  let fns = entry[mode];
  if (!fns) {
    fns = {};
    for (const [name, source] of Object.entries(parts.partials))
      fns[name] = compiled(source, escapeHtml);
    entry[mode] = fns;
  }
  return fns;
}

/** Runs one template; a failure becomes an issue on `field` saying what to fix. */
function run(
  source: string,
  escapeHtml: boolean,
  data: unknown,
  parts: RenderParts,
  field: string,
  issues: FieldIssue[],
): string | undefined {
  try {
    return compiled(source, escapeHtml)(data, {
      ...RUNTIME,
      partials: partialsFor(parts, escapeHtml),
    });
  } catch (err) {
    issues.push({ field, message: explain(err, source) });
    return undefined;
  }
}

function explain(err: unknown, source: string): string {
  const message = toError(err).message;
  const missing = /^"([^"]+)" not defined/.exec(message);
  if (missing) {
    const where = /\{\{~?#?>/.test(source) ? ' (in it or in a partial it uses)' : '';
    return `uses {{${missing[1]}}}${where}, which the data does not have`;
  }
  const partial = /^The partial (.+) could not be found/.exec(message);
  if (partial) return `uses the partial {{> ${partial[1]}}}, which does not exist`;
  if (err instanceof RangeError)
    return `partials include each other without end (${message.toLowerCase()})`;
  return message;
}

/** `value` with every string escaped for Slack (and, with `json`, for a JSON string). */
function slackSafe(value: unknown, json: boolean): unknown {
  if (typeof value === 'string') {
    const s = value.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
    return json ? JSON.stringify(s).slice(1, -1) : s;
  }
  if (Array.isArray(value)) return value.map((v) => slackSafe(v, json));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, slackSafe(v, json)]));
  return value;
}

/** The layout that applies to `type`, by name; undefined for none; throws if it is missing. */
export function layoutFor(
  type: TypeDefinition,
  parts: RenderParts,
): { name: string; layout: Layout } | undefined {
  if (type.layout === false) return undefined;
  const name = type.layout ?? 'default';
  const layout = Object.hasOwn(parts.layouts, name) ? parts.layouts[name] : undefined;
  if (layout) return { name, layout };
  if (type.layout === undefined) return undefined;
  throw new ValidationError([{ field: 'layout', message: `there is no layout "${name}"` }]);
}

/**
 * A channel's template fields with nested ones flattened: the email `headers` object becomes
 * `headers.<Name>` fields, so each header is rendered (and named in errors) like any field.
 */
function flatFields(fields: object | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [field, source] of Object.entries(fields ?? {})) {
    if (source && typeof source === 'object')
      for (const [k, v] of Object.entries(source as Record<string, string>))
        out[`${field}.${k}`] = v;
    else out[field] = source as string | undefined;
  }
  return out;
}

/** The template fields of `channel` for `locale`, after fallback. */
export function templatesFor(
  type: TypeDefinition,
  channel: Channel,
  locale?: string | null,
): Record<string, string> {
  const base = flatFields(type.templates[channel]) as Record<string, string>;
  const candidates = locale ? [locale.split('-')[0] as string, locale] : [];
  for (const l of candidates) {
    const override = flatFields(type.locales[l]?.[channel]);
    for (const [field, source] of Object.entries(override))
      if (source !== undefined) base[field] = source;
  }
  return base;
}

/**
 * Renders every field of `channel`, with `parts` (layouts and partials; default none) for
 * `{{> name}}` and the email layout; throws a ValidationError naming each field that failed.
 */
export function render(
  type: TypeDefinition,
  channel: Channel,
  data: Record<string, unknown>,
  locale?: string | null,
  parts: RenderParts = NO_PARTS,
): Record<string, string> {
  const out: Record<string, string> = {};
  const issues: FieldIssue[] = [];
  const slack =
    channel === 'slack' ? { text: slackSafe(data, false), blocks: slackSafe(data, true) } : null;
  for (const [field, source] of Object.entries(templatesFor(type, channel, locale))) {
    const escapeHtml = HTML_FIELDS.has(`${channel}.${field}`);
    const input = slack ? (field === 'blocks' ? slack.blocks : slack.text) : data;
    const text = run(source, escapeHtml, input, parts, `templates.${channel}.${field}`, issues);
    if (text !== undefined) out[field] = text;
  }
  if (channel === 'email' && issues.length === 0) {
    const chosen = layoutFor(type, parts);
    if (chosen) {
      const { name, layout } = chosen;
      // The body goes in as it is: the html was escaped when it was rendered.
      if (out.html !== undefined) {
        const html = run(
          layout.source,
          true,
          { ...data, body: out.html },
          parts,
          `layouts.${name}.source`,
          issues,
        );
        if (html !== undefined) out.html = html;
      }
      if (out.text !== undefined && layout.text !== undefined) {
        const text = run(
          layout.text,
          false,
          { ...data, body: out.text },
          parts,
          `layouts.${name}.text`,
          issues,
        );
        if (text !== undefined) out.text = text;
      }
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return out;
}
