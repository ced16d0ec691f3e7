/**
 * Notification types: a named kind of message with its category, channels, priority,
 * Handlebars templates per channel (and per locale, falling back to the type's own) and an
 * optional digest rule. Every template is parsed when the type is saved, so a syntax error is a
 * validation error naming the template, not a failed send later.
 */
import Handlebars from 'handlebars';
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { ValidationError, type FieldIssue } from '../errors.js';
import { checked } from '../validation.js';
import { keyOf, pageOf, pageQuerySchema, type Page } from './pages.js';
import { actionUrlTemplateIssue } from './action-urls.js';
import { hookUrlSchema } from './hook-urls.js';
import { headersSchema } from './email-options.js';

// The channels are vocabulary shared with channels/ (src/types.ts); re-exported for notify/.
export { CHANNELS, type Channel } from '../types.js';
import { CHANNELS, type Channel } from '../types.js';

const tpl = z.string().min(1).max(100_000);

/** The template fields of each channel. */
const channelTemplates = {
  // `replyTo` renders to an address; `headers` are extra headers, each value a template
  // (email-options.ts: which names are allowed; a trigger's `email` wins over both).
  email: z
    .strictObject({
      subject: tpl,
      html: tpl.optional(),
      text: tpl.optional(),
      replyTo: tpl.optional(),
      headers: headersSchema(tpl).optional(),
    })
    .refine((t) => t.html !== undefined || t.text !== undefined, 'give html, text or both'),
  sms: z.strictObject({ text: tpl }),
  // A text message, or an approved template message (`template` is its name; `components`
  // renders to the Cloud API's JSON array): docs/providers.md.
  whatsapp: z
    .strictObject({
      text: tpl.optional(),
      template: tpl.optional(),
      language: tpl.optional(),
      components: tpl.optional(),
    })
    .refine((t) => t.text !== undefined || t.template !== undefined, 'give text or template'),
  push: z.strictObject({ title: tpl, body: tpl }),
  inapp: z.strictObject({ title: tpl, body: tpl, actionUrl: tpl.optional() }),
  // The webhook's `content` (both optional: the body carries the trigger's data anyway).
  webhook: z.strictObject({ title: tpl.optional(), body: tpl.optional() }),
  // `blocks` renders to Slack's JSON array of Block Kit blocks; `text` is then the fallback.
  slack: z.strictObject({ text: tpl, blocks: tpl.optional() }),
};

const templatesSchema = z.strictObject({
  email: channelTemplates.email.optional(),
  sms: channelTemplates.sms.optional(),
  whatsapp: channelTemplates.whatsapp.optional(),
  push: channelTemplates.push.optional(),
  inapp: channelTemplates.inapp.optional(),
  webhook: channelTemplates.webhook.optional(),
  slack: channelTemplates.slack.optional(),
});

/** Per-locale overrides: any subset of any channel's fields. */
const localeTemplatesSchema = z.strictObject({
  email: z
    .strictObject({
      subject: tpl.optional(),
      html: tpl.optional(),
      text: tpl.optional(),
      replyTo: tpl.optional(),
      headers: headersSchema(tpl).optional(),
    })
    .optional(),
  sms: z.strictObject({ text: tpl.optional() }).optional(),
  whatsapp: z
    .strictObject({
      text: tpl.optional(),
      template: tpl.optional(),
      language: tpl.optional(),
      components: tpl.optional(),
    })
    .optional(),
  push: z.strictObject({ title: tpl.optional(), body: tpl.optional() }).optional(),
  inapp: z
    .strictObject({ title: tpl.optional(), body: tpl.optional(), actionUrl: tpl.optional() })
    .optional(),
  webhook: z.strictObject({ title: tpl.optional(), body: tpl.optional() }).optional(),
  slack: z.strictObject({ text: tpl.optional(), blocks: tpl.optional() }).optional(),
});

/**
 * Templates of the digest message (notify/digests.ts), per channel with the same fields as
 * `templates`, rendered with `items` (the collected notifications' data) and `count`; a channel
 * without one joins the items as each renders alone. The inbox is never digested: no `inapp`.
 */
const digestTemplatesSchema = templatesSchema.omit({ inapp: true });
const digestLocalesSchema = z.record(
  z.string().min(2).max(35),
  localeTemplatesSchema.omit({ inapp: true }),
);

export const typeNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,99}$/, 'lower-case letters, digits, _ . - (at most 100)');

/** Names of layouts and partials (`{{> footer-links}}`): no dots, so file names stay plain. */
export const partNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,99}$/, 'lower-case letters, digits, _ - (at most 100)');

export const typeDefinitionSchema = z
  .strictObject({
    category: z.enum(['transactional', 'marketing']).default('transactional'),
    channels: z
      .array(z.enum(CHANNELS))
      .min(1)
      .refine((c) => new Set(c).size === c.length, 'no channel twice'),
    priority: z.enum(['low', 'normal', 'high', 'urgent']).default('normal'),
    defaultLocale: z.string().min(2).max(35).default('en'),
    templates: templatesSchema,
    locales: z.record(z.string().min(2).max(35), localeTemplatesSchema).default({}),
    /**
     * Collect the type's notifications into one message per window (notify/digests.ts),
     * unless the recipient's own `digest` preference names another; `false`: never, whatever
     * the preference (for messages that must not wait, such as reminders).
     */
    digest: z
      .union([z.strictObject({ window: z.enum(['hourly', 'daily', 'weekly']) }), z.literal(false)])
      .optional(),
    digestTemplates: digestTemplatesSchema.optional(),
    /** Per-locale overrides of `digestTemplates`, as `locales` is of `templates`. */
    digestLocales: digestLocalesSchema.optional(),
    /**
     * The layout that wraps the email html (and text, if the layout has a text part). Absent:
     * the layout named `default` when there is one; `false`: none.
     */
    layout: z
      .union([partNameSchema, z.literal(false)], {
        error: 'the name of a template part, or false for no layout',
      })
      .optional(),
    /** Where the webhook channel posts for recipients without their own `webhookUrl`. */
    webhook: z.strictObject({ url: hookUrlSchema }).optional(),
    /** The Slack incoming webhook for recipients without their own `slackWebhookUrl`. */
    slack: z.strictObject({ url: hookUrlSchema }).optional(),
    /**
     * The provider each channel falls back to after its primary's failed attempts
     * (`delivery.failoverAfter`), e.g. `{"email": "smtp"}`; wins over the configured fallback.
     */
    fallback: z
      .partialRecord(
        z.enum(['email', 'sms', 'whatsapp']),
        z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'a provider name such as smtp'),
      )
      .optional(),
  })
  .superRefine((t, ctx) => {
    for (const channel of t.channels) {
      // A webhook without a template posts the trigger's data with an empty `content`.
      if (!t.templates[channel] && channel !== 'webhook') {
        ctx.addIssue({
          code: 'custom',
          path: ['templates', channel],
          message: `channel ${channel} needs a template`,
        });
      }
    }
    // Digest templates only for the type's channels; a locale's only over the type's own.
    for (const channel of Object.keys(t.digestTemplates ?? {}) as Channel[]) {
      if (!t.channels.includes(channel)) {
        const message = `the type has no ${channel} channel`;
        ctx.addIssue({ code: 'custom', path: ['digestTemplates', channel], message });
      }
    }
    for (const [locale, byChannel] of Object.entries(t.digestLocales ?? {})) {
      for (const channel of Object.keys(byChannel) as Channel[]) {
        if (!t.digestTemplates?.[channel as Exclude<Channel, 'inapp'>]) {
          const message = `there is no digestTemplates.${channel} for it to override`;
          ctx.addIssue({ code: 'custom', path: ['digestLocales', locale, channel], message });
        }
      }
    }
  });

export type TypeDefinition = z.infer<typeof typeDefinitionSchema>;

export interface NotificationType extends TypeDefinition {
  name: string;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * Parses every template string in `value` (a string, or objects of them) as Handlebars; a
 * syntax error is an issue naming the field it is in (`templates.email.subject`), with the
 * parser's whole message: the line, a pointer under the error, and what it expected there.
 * A use of the `{{log}}` helper, which Herald does not have (render.ts), is an issue too.
 */
export function templateSyntaxIssues(value: unknown, path: string[]): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const visit = (v: unknown, at: string[]) => {
    if (typeof v === 'string') {
      let ast: hbs.AST.Program;
      try {
        ast = Handlebars.parse(v);
      } catch (err) {
        issues.push({
          field: at.join('.'),
          message: `is not a valid Handlebars template: ${(err as Error).message}`,
        });
        return;
      }
      if (usesHelper(ast, 'log'))
        issues.push({
          field: at.join('.'),
          message:
            'uses {{log}}, which Herald does not have (a template cannot write to the log): remove it',
        });
    } else if (v && typeof v === 'object') {
      for (const [k, inner] of Object.entries(v)) visit(inner, [...at, k]);
    }
  };
  visit(value, path);
  return issues;
}

/** Whether `ast` calls the helper `name` (with arguments, or as a block). */
function usesHelper(ast: hbs.AST.Node, name: string): boolean {
  let found = false;
  const visit = (node: unknown): void => {
    if (found || !node || typeof node !== 'object') return;
    if (Array.isArray(node)) return node.forEach(visit);
    const n = node as {
      type?: string;
      path?: { type?: string; original?: unknown };
      params?: unknown[];
      hash?: unknown;
    };
    if (
      (n.type === 'MustacheStatement' ||
        n.type === 'BlockStatement' ||
        n.type === 'SubExpression') &&
      n.path?.type === 'PathExpression' &&
      n.path.original === name &&
      (n.type === 'BlockStatement' || (n.params?.length ?? 0) > 0 || n.hash !== undefined)
    ) {
      found = true;
      return;
    }
    for (const [key, value] of Object.entries(n)) if (key !== 'loc') visit(value);
  };
  visit(ast);
  return found;
}

/** The syntax errors of every template of a type (its own, its locales', its digest's). */
export function typeSyntaxIssues(def: TypeDefinition): FieldIssue[] {
  return [
    ...templateSyntaxIssues(def.templates, ['templates']),
    ...templateSyntaxIssues(def.locales, ['locales']),
    ...templateSyntaxIssues(def.digestTemplates, ['digestTemplates']),
    ...templateSyntaxIssues(def.digestLocales, ['digestLocales']),
  ];
}

/**
 * Inbox action URLs whose own text already makes a `javascript:`, `data:` or other non-web
 * URL (action-urls.ts); the rest are checked as they render. Templates must parse.
 */
export function typeActionUrlIssues(def: TypeDefinition): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const check = (template: string | undefined, field: string) => {
    const problem = template === undefined ? undefined : actionUrlTemplateIssue(template);
    if (problem) issues.push({ field, message: problem });
  };
  check(def.templates.inapp?.actionUrl, 'templates.inapp.actionUrl');
  for (const [locale, t] of Object.entries(def.locales))
    check(t.inapp?.actionUrl, `locales.${locale}.inapp.actionUrl`);
  return issues;
}

/** Parses every template string; a syntax error names the template it is in. */
function checkTemplates(def: TypeDefinition): void {
  const issues = typeSyntaxIssues(def);
  if (issues.length > 0) throw new ValidationError(issues);
  const urls = typeActionUrlIssues(def);
  if (urls.length > 0) throw new ValidationError(urls, 'unsafe_action_url');
}

interface TypeRow {
  name: string;
  definition: TypeDefinition;
  created_at: Date;
  updated_at: Date;
  inserted?: boolean;
}

const toType = (r: TypeRow): NotificationType => ({
  name: r.name,
  ...r.definition,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function makeTypes(db: Db, schema: string) {
  const table = `${quoteIdent(schema)}.notification_types`;
  return {
    /** Defines or replaces a type; `created` says which. */
    async put(name: string, input: unknown): Promise<{ type: NotificationType; created: boolean }> {
      const n = checked(typeNameSchema, name, 'name');
      const def = checked(typeDefinitionSchema, input);
      checkTemplates(def);
      const { rows } = await db.query<TypeRow>(
        `INSERT INTO ${table} AS t (name, definition) VALUES ($1, $2::jsonb)
         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = now()
         RETURNING name, definition, created_at, updated_at, (xmax = 0) AS inserted`,
        [n, JSON.stringify(def)],
      );
      const row = rows[0] as TypeRow;
      return { type: toType(row), created: row.inserted === true };
    },

    /** The type, or null. `q`: read inside this transaction. */
    async get(name: string, q: Queryable = db): Promise<NotificationType | null> {
      const { rows } = await q.query<TypeRow>(
        `SELECT name, definition, created_at, updated_at FROM ${table} WHERE name = $1`,
        [checked(typeNameSchema, name, 'name')],
      );
      return rows[0] ? toType(rows[0]) : null;
    },

    /** The types by name, a page at a time (`GET /v1/types`). */
    async list(query: unknown): Promise<Page<NotificationType>> {
      const q = checked(pageQuerySchema, query);
      const { rows } = await db.query<TypeRow>(
        `SELECT name, definition, created_at, updated_at FROM ${table}
         WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2`,
        [q.cursor === undefined ? null : keyOf(q.cursor), q.limit + 1],
      );
      return pageOf(rows, q.limit, (r) => r.name, toType);
    },

    async remove(name: string): Promise<boolean> {
      const { rows } = await db.query(`DELETE FROM ${table} WHERE name = $1 RETURNING name`, [
        checked(typeNameSchema, name, 'name'),
      ]);
      return rows.length > 0;
    },
  };
}

export type Types = ReturnType<typeof makeTypes>;
