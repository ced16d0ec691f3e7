/**
 * Recipients: the app's users, under the app's own ids. `upsert` merges the fields it is
 * given into the stored recipient (a field set to null is cleared; `data` is replaced whole),
 * as Knock's identify and Novu's subscriber update do, so an app can send only what changed.
 */
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { checked, isStorableText } from '../validation.js';
import { hookUrlSchema } from './hook-urls.js';
import { keyOf, pageOf, pageQuerySchema, type Page } from './pages.js';

export const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const isLocale = (l: string) => {
  try {
    return Intl.getCanonicalLocales(l).length === 1;
  } catch {
    return false;
  }
};

export const recipientIdSchema = z
  .string()
  .min(1)
  .max(256)
  .refine(isStorableText, 'must not contain a NUL character or a lone surrogate');

export const recipientInputSchema = z.strictObject({
  email: z.email().max(320).nullable().optional(),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number, like +4915112345678')
    .nullable()
    .optional(),
  locale: z
    .string()
    .max(35)
    .refine(isLocale, 'must be a BCP 47 locale, like de or en-GB')
    .nullable()
    .optional(),
  timezone: z
    .string()
    .max(64)
    .refine(isTimeZone, 'must be an IANA time zone, like Europe/Berlin')
    .nullable()
    .optional(),
  data: z.record(z.string(), z.unknown()).optional(),
  /** Where the webhook channel posts this recipient's notifications (wins over the type's). */
  webhookUrl: hookUrlSchema.nullable().optional(),
  /** The recipient's Slack incoming webhook, `https://hooks.slack.com/services/...`. */
  slackWebhookUrl: hookUrlSchema.nullable().optional(),
});

export type RecipientInput = z.infer<typeof recipientInputSchema>;

export interface Recipient {
  id: string;
  email: string | null;
  phone: string | null;
  locale: string | null;
  timezone: string | null;
  data: Record<string, unknown>;
  webhookUrl: string | null;
  slackWebhookUrl: string | null;
  createdAt: Date;
  updatedAt: Date;
}

interface RecipientRow {
  id: string;
  email: string | null;
  phone: string | null;
  locale: string | null;
  timezone: string | null;
  data: Record<string, unknown>;
  webhook_url: string | null;
  slack_webhook_url: string | null;
  created_at: Date;
  updated_at: Date;
  inserted?: boolean;
}

const toRecipient = (r: RecipientRow): Recipient => ({
  id: r.id,
  email: r.email,
  phone: r.phone,
  locale: r.locale,
  timezone: r.timezone,
  data: r.data,
  webhookUrl: r.webhook_url,
  slackWebhookUrl: r.slack_webhook_url,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export const recipientListQuerySchema = pageQuerySchema.extend({
  prefix: z.string().min(1).max(256).optional(),
});

/**
 * `text` as a LIKE pattern matching itself: its `%`, `_` and `\` are plain characters. (A
 * prefix as `LIKE 'p%'` can use the text_pattern_ops indexes of migration 0018; starts_with
 * cannot.)
 */
const likeEscaped = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

export function makeRecipients(db: Db, schema: string) {
  const table = `${quoteIdent(schema)}.recipients`;
  const cols =
    'id, email, phone, locale, timezone, data, webhook_url, slack_webhook_url, created_at, updated_at';
  return {
    /** Creates or updates; `created` says which. `q`: run inside this transaction. */
    async upsert(
      id: string,
      input: unknown,
      q: Queryable = db,
    ): Promise<{ recipient: Recipient; created: boolean }> {
      const rid = checked(recipientIdSchema, id, 'id');
      const v = checked(recipientInputSchema, input);
      const has = (k: keyof RecipientInput) => v[k] !== undefined;
      // $n::boolean says whether field n was given; an absent field keeps its stored value.
      const { rows } = await q.query<RecipientRow>(
        `INSERT INTO ${table} AS r (id, email, phone, locale, timezone, data, webhook_url, slack_webhook_url)
         VALUES ($1, $2, $4, $6, $8, coalesce($10::jsonb, '{}'::jsonb), $11, $13)
         ON CONFLICT (id) DO UPDATE SET
           email = CASE WHEN $3::boolean THEN $2 ELSE r.email END,
           phone = CASE WHEN $5::boolean THEN $4 ELSE r.phone END,
           locale = CASE WHEN $7::boolean THEN $6 ELSE r.locale END,
           timezone = CASE WHEN $9::boolean THEN $8 ELSE r.timezone END,
           data = coalesce($10::jsonb, r.data),
           webhook_url = CASE WHEN $12::boolean THEN $11 ELSE r.webhook_url END,
           slack_webhook_url = CASE WHEN $14::boolean THEN $13 ELSE r.slack_webhook_url END,
           updated_at = now()
         RETURNING ${cols}, (xmax = 0) AS inserted`,
        [
          rid,
          v.email ?? null,
          has('email'),
          v.phone ?? null,
          has('phone'),
          v.locale ?? null,
          has('locale'),
          v.timezone ?? null,
          has('timezone'),
          v.data === undefined ? null : JSON.stringify(v.data),
          v.webhookUrl ?? null,
          has('webhookUrl'),
          v.slackWebhookUrl ?? null,
          has('slackWebhookUrl'),
        ],
      );
      const row = rows[0] as RecipientRow;
      return { recipient: toRecipient(row), created: row.inserted === true };
    },

    async get(id: string): Promise<Recipient | null> {
      const { rows } = await db.query<RecipientRow>(`SELECT ${cols} FROM ${table} WHERE id = $1`, [
        checked(recipientIdSchema, id, 'id'),
      ]);
      return rows[0] ? toRecipient(rows[0]) : null;
    },

    /**
     * The recipients by id, a page at a time (`GET /v1/recipients`); `prefix` keeps those whose
     * id, or email (any case), starts with it.
     */
    async list(query: unknown): Promise<Page<Recipient>> {
      const q = checked(recipientListQuerySchema, query);
      const { rows } = await db.query<RecipientRow>(
        `SELECT ${cols} FROM ${table}
         WHERE ($1::text IS NULL OR id > $1)
           AND ($2::text IS NULL OR id LIKE $2 OR lower(email) LIKE lower($2))
         ORDER BY id LIMIT $3`,
        [
          q.cursor === undefined ? null : keyOf(q.cursor),
          q.prefix === undefined ? null : `${likeEscaped(q.prefix)}%`,
          q.limit + 1,
        ],
      );
      return pageOf(rows, q.limit, (r) => r.id, toRecipient);
    },

    /** Erases the recipient; true if there was one. (Later issues erase their inbox and deliveries too.) */
    async erase(id: string): Promise<boolean> {
      const { rows } = await db.query(`DELETE FROM ${table} WHERE id = $1 RETURNING id`, [
        checked(recipientIdSchema, id, 'id'),
      ]);
      return rows.length > 0;
    },
  };
}

export type Recipients = ReturnType<typeof makeRecipients>;
