/**
 * Recipients: the app's users, under the app's own ids. `upsert` merges the fields it is
 * given into the stored recipient (a field set to null is cleared; `data` is replaced whole),
 * as Knock's identify and Novu's subscriber update do, so an app can send only what changed.
 * `upsertMany` does the same for many at once (`herald recipients import`).
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

/** The fields of a recipient besides its id, as PUT /v1/recipients/{id} names them. */
type RecipientField = keyof RecipientInput;
const FIELDS: RecipientField[] = [
  'email',
  'phone',
  'locale',
  'timezone',
  'data',
  'webhookUrl',
  'slackWebhookUrl',
];

/** A recipient checked as PUT /v1/recipients/{id} checks it, ready for `upsertMany`. */
export interface RecipientUpsert {
  id: string;
  input: RecipientInput;
}

/** Checks an id and a body as PUT /v1/recipients/{id} does; throws its ValidationError. */
export function checkRecipient(id: unknown, input: unknown): RecipientUpsert {
  return {
    id: checked(recipientIdSchema, id, 'id'),
    input: checked(recipientInputSchema, input),
  };
}

export interface UpsertResult {
  recipient: Recipient;
  created: boolean;
}

/** Recipients per statement of `upsertMany`. */
const UPSERT_BATCH = 1_000;

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
  /**
   * One statement per batch. The rows travel as one JSON array ($1); which fields each
   * recipient gave travels as an object by id ($2), since an update must tell a field left
   * out (kept) from one set to null (cleared), and `excluded` holds only the values. Ids are
   * unique within a batch: ON CONFLICT cannot update one row twice in one statement.
   */
  async function upsertBatch(q: Queryable, batch: RecipientUpsert[]): Promise<UpsertResult[]> {
    const given: Record<string, string[]> = {};
    const rows = batch.map(({ id, input: v }) => {
      given[id] = FIELDS.filter((f) => v[f] !== undefined);
      return {
        id,
        email: v.email ?? null,
        phone: v.phone ?? null,
        locale: v.locale ?? null,
        timezone: v.timezone ?? null,
        data: v.data ?? null,
        webhook_url: v.webhookUrl ?? null,
        slack_webhook_url: v.slackWebhookUrl ?? null,
      };
    });
    const keep = (column: string, field: RecipientField) =>
      `${column} = CASE WHEN ($2::jsonb -> excluded.id) ? '${field}' THEN excluded.${column} ELSE r.${column} END`;
    const { rows: written } = await q.query<RecipientRow>(
      `INSERT INTO ${table} AS r (id, email, phone, locale, timezone, data, webhook_url, slack_webhook_url)
       SELECT x.id, x.email, x.phone, x.locale, x.timezone, coalesce(x.data, '{}'::jsonb),
         x.webhook_url, x.slack_webhook_url
       FROM jsonb_to_recordset($1::jsonb) AS x (id text, email text, phone text, locale text,
         timezone text, data jsonb, webhook_url text, slack_webhook_url text)
       ON CONFLICT (id) DO UPDATE SET
         ${keep('email', 'email')}, ${keep('phone', 'phone')}, ${keep('locale', 'locale')},
         ${keep('timezone', 'timezone')}, ${keep('data', 'data')},
         ${keep('webhook_url', 'webhookUrl')}, ${keep('slack_webhook_url', 'slackWebhookUrl')},
         updated_at = now()
       RETURNING ${cols}, (xmax = 0) AS inserted`,
      [JSON.stringify(rows), JSON.stringify(given)],
    );
    const byId = new Map(written.map((r) => [r.id, r]));
    return batch.map(({ id }) => {
      const row = byId.get(id) as RecipientRow;
      return { recipient: toRecipient(row), created: row.inserted === true };
    });
  }

  /** Checked recipients, written in order, one statement per run of distinct ids. */
  async function upsertMany(items: RecipientUpsert[], q: Queryable = db): Promise<UpsertResult[]> {
    const out: UpsertResult[] = [];
    let batch: RecipientUpsert[] = [];
    let ids = new Set<string>();
    const flush = async () => {
      if (batch.length > 0) out.push(...(await upsertBatch(q, batch)));
      batch = [];
      ids = new Set();
    };
    for (const item of items) {
      // A second write of an id goes in the next statement, after the first: as two PUTs.
      if (ids.has(item.id) || batch.length === UPSERT_BATCH) await flush();
      batch.push(item);
      ids.add(item.id);
    }
    await flush();
    return out;
  }

  return {
    /** Creates or updates; `created` says which. `q`: run inside this transaction. */
    async upsert(id: string, input: unknown, q: Queryable = db): Promise<UpsertResult> {
      return (await upsertMany([checkRecipient(id, input)], q))[0] as UpsertResult;
    },

    /**
     * Creates or updates many recipients, each as `upsert` would, in order, a few statements
     * for all (an import). Check each with `checkRecipient` first: a bad one is refused there,
     * alone. Inside `q` if given; else a batch of more than 1,000 is not one transaction.
     */
    upsertMany,

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
