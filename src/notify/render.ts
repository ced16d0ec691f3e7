/**
 * Renders a notification type's templates for one channel and locale.
 *
 * - Locale fallback: the exact locale ('de-AT'), then its language ('de'), then the type's own
 *   templates; field by field, so a locale may override only the subject.
 * - A missing variable is an error naming the template and the variable (Handlebars strict
 *   mode), never an empty string in a message someone receives.
 * - HTML is escaped only where the output is HTML (email `html`); SMS, push, subjects and text
 *   bodies are plain text, where `&amp;` would be a visible bug.
 * - Prototype properties and methods are never reachable from templates.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
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

/** Compiled templates by escaping mode and source; cleared when it grows past a bound. */
const cache = new Map<string, HandlebarsTemplateDelegate>();

function compiled(source: string, escapeHtml: boolean): HandlebarsTemplateDelegate {
  const key = `${escapeHtml ? 'h' : 't'}:${source}`;
  let template = cache.get(key);
  if (!template) {
    if (cache.size >= 2_000) cache.clear();
    template = hb.compile(source, { strict: true, noEscape: !escapeHtml });
    cache.set(key, template);
  }
  return template;
}

/** The template fields of `channel` for `locale`, after fallback. */
export function templatesFor(
  type: TypeDefinition,
  channel: Channel,
  locale?: string | null,
): Record<string, string> {
  const base = { ...(type.templates[channel] as Record<string, string> | undefined) };
  const candidates = locale ? [locale.split('-')[0] as string, locale] : [];
  for (const l of candidates) {
    const override = type.locales[l]?.[channel] as Record<string, string | undefined> | undefined;
    for (const [field, source] of Object.entries(override ?? {}))
      if (source !== undefined) base[field] = source;
  }
  return base;
}

/** Renders every field of `channel`; throws a ValidationError naming each field that failed. */
export function render(
  type: TypeDefinition,
  channel: Channel,
  data: Record<string, unknown>,
  locale?: string | null,
): Record<string, string> {
  const out: Record<string, string> = {};
  const issues: { field: string; message: string }[] = [];
  for (const [field, source] of Object.entries(templatesFor(type, channel, locale))) {
    try {
      out[field] = compiled(source, HTML_FIELDS.has(`${channel}.${field}`))(data, RUNTIME);
    } catch (err) {
      const missing = /^"([^"]+)" not defined/.exec((err as Error).message);
      issues.push({
        field: `templates.${channel}.${field}`,
        message: missing
          ? `uses {{${missing[1]}}}, which the data does not have`
          : (err as Error).message,
      });
    }
  }
  if (issues.length > 0) throw new ValidationError(issues);
  return out;
}
