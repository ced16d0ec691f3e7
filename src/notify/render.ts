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
 * - Work is bounded (render-budget.ts): past a number of block bodies and partials, or an
 *   output length, the render stops with `template_too_expensive` naming the field.
 * - There is no `{{log}}` helper: a template cannot write to the process's output.
 * - Partials (`{{> name}}`) take the escaping of the template that uses them: escaped in email
 *   html, plain elsewhere. A missing partial is an error naming it.
 * - A layout wraps the rendered email html at `{{{body}}}` (and the email text, when the layout
 *   has a text part); its other variables come from the same data. The type's `layout` names
 *   it; absent, the layout named `default` applies when there is one; `false`: none.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import { ValidationError, toError, type ErrorCode, type FieldIssue } from '../errors.js';
import {
  boundBlocks,
  checkLength,
  counted,
  RenderBudgetExceeded,
  startBudget,
} from './render-budget.js';
import { unsafeActionUrl } from './action-urls.js';
import { CHANNELS, type Channel, type TypeDefinition } from './types.js';

/** The body of POST /v1/types/{name}/preview: one channel (default all), a locale, the data. */
export const previewSchema = z.strictObject({
  channel: z.enum(CHANNELS).optional(),
  locale: z.string().min(2).max(35).optional(),
  data: z.record(z.string(), z.unknown()).default({}),
});

const hb = Handlebars.create();
// `{{log}}` would write whatever a template passes it to the console, outside the JSON log.
// The compiler calls known helpers directly: it must not know `log` either.
hb.unregisterHelper('log');
const COMPILE = { strict: true, knownHelpers: { log: false } } as const;
boundBlocks(hb);
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
    template = hb.compile(source, { ...COMPILE, noEscape: !escapeHtml });
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
      fns[name] = counted(compiled(source, escapeHtml));
    entry[mode] = fns;
  }
  return fns;
}

/** A render's issues, with what kind they are (for the error's code). */
interface Issues {
  list: FieldIssue[];
  /** The work bound was passed (`template_too_expensive`). */
  tooExpensive: boolean;
  /** An inbox action URL rendered to a `javascript:` or similar URL (`unsafe_action_url`). */
  unsafeUrl: boolean;
  missing: MissingVariable[];
}

/** A variable a template uses that the data does not have. */
export interface MissingVariable {
  /** The template, as in the issue: `templates.email.subject`. */
  field: string;
  /** The name Handlebars looked up (the last part of a path: `name` of `user.name`). */
  variable: string;
}

/** A render that failed: a ValidationError naming each field, with the missing variables. */
export class RenderError extends ValidationError {
  constructor(
    issues: FieldIssue[],
    code: ErrorCode,
    readonly missing: MissingVariable[],
  ) {
    super(issues, code);
  }
}

/** Runs one template; a failure becomes an issue on `field` saying what to fix. */
function run(
  source: string,
  escapeHtml: boolean,
  data: unknown,
  parts: RenderParts,
  field: string,
  issues: Issues,
): string | undefined {
  try {
    const out = compiled(source, escapeHtml)(data, {
      ...RUNTIME,
      partials: partialsFor(parts, escapeHtml),
    });
    checkLength(out);
    return out;
  } catch (err) {
    // V8's own bound on a string's length (about 2^29): the output was far too long.
    const budget =
      err instanceof RenderBudgetExceeded
        ? err
        : err instanceof RangeError && /string length/i.test(err.message)
          ? new RenderBudgetExceeded('chars')
          : undefined;
    if (budget) issues.tooExpensive = true;
    const missing = budget ? null : /^"([^"]+)" not defined/.exec(toError(err).message);
    if (missing) issues.missing.push({ field, variable: missing[1] as string });
    issues.list.push({ field, message: budget ? budget.message : explain(err, source) });
    return undefined;
  }
}

function explain(err: unknown, source: string): string {
  const message = toError(err).message;
  const helper = /^Missing helper: "([^"]+)"/.exec(message);
  if (helper) return `uses the helper {{${helper[1]}}}, which Herald does not have`;
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
  const issues: Issues = { list: [], tooExpensive: false, unsafeUrl: false, missing: [] };
  startBudget();
  const slack =
    channel === 'slack' ? { text: slackSafe(data, false), blocks: slackSafe(data, true) } : null;
  for (const [field, source] of Object.entries(templatesFor(type, channel, locale))) {
    const escapeHtml = HTML_FIELDS.has(`${channel}.${field}`);
    const input = slack ? (field === 'blocks' ? slack.blocks : slack.text) : data;
    const text = run(source, escapeHtml, input, parts, `templates.${channel}.${field}`, issues);
    if (text !== undefined) out[field] = text;
  }
  if (channel === 'inapp' && out.actionUrl !== undefined) {
    const problem = unsafeActionUrl(out.actionUrl);
    if (problem) {
      issues.unsafeUrl = true;
      issues.list.push({ field: 'templates.inapp.actionUrl', message: problem });
    }
  }
  if (channel === 'email' && issues.list.length === 0) {
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
  if (issues.list.length > 0) {
    const code: ErrorCode = issues.tooExpensive
      ? 'template_too_expensive'
      : issues.unsafeUrl
        ? 'unsafe_action_url'
        : 'validation_failed';
    throw new RenderError(issues.list, code, issues.missing);
  }
  return out;
}
