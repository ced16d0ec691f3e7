/**
 * Recipient preferences (docs/api.md, Preferences): channel switches, per-type and per-type-per-channel
 * opt-outs, quiet hours in the recipient's time zone (they may cross midnight), a digest
 * setting, local-time schedules, and consent for marketing. PUT replaces the whole document;
 * GET answers it with the defaults filled in.
 */
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import { checked } from '../validation.js';
import { recipientIdSchema, isTimeZone } from './recipients.js';
import { CHANNELS, typeNameSchema } from './types.js';

const hhmm = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, 24-hour (00:00 to 23:59)');
const channelSwitches = z.partialRecord(z.enum(CHANNELS), z.boolean());

export const preferencesSchema = z.strictObject({
  channels: channelSwitches.default({}),
  types: z
    .record(
      typeNameSchema,
      z.union([z.boolean(), channelSwitches], {
        error: 'true or false for the whole type, or an object of channel: true|false',
      }),
    )
    .default({}),
  quietHours: z
    .strictObject({ start: hhmm, end: hhmm })
    .refine((q) => q.start !== q.end, 'start and end must differ')
    .nullable()
    .default(null),
  /** Overrides the recipient's own time zone for quiet hours and schedules. */
  timezone: z
    .string()
    .max(64)
    .refine(isTimeZone, 'must be an IANA time zone, like Europe/Berlin')
    .nullable()
    .default(null),
  digest: z.enum(['off', 'hourly', 'daily', 'weekly']).default('off'),
  schedules: z
    .record(
      typeNameSchema,
      z.strictObject({
        time: hhmm,
        day: z
          .enum(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'])
          .optional(),
        skipWeekends: z.boolean().optional(),
        enabled: z.boolean().default(true),
      }),
    )
    .default({}),
  consent: z.strictObject({ marketing: z.boolean().default(false) }).prefault({}),
});

export type Preferences = z.infer<typeof preferencesSchema>;

export interface PreferencesHooks {
  /** Refuses schedule names that no local-time schedule has (a ValidationError). */
  checkSchedules?: (names: string[]) => void;
  /** Runs in the transaction that stored them: the local-time schedules follow (scheduler/). */
  stored?: (q: Queryable, recipientId: string) => Promise<void>;
}

export function makePreferences(db: Db, schema: string, hooks: PreferencesHooks = {}) {
  const table = `${quoteIdent(schema)}.preferences`;
  const recipients = `${quoteIdent(schema)}.recipients`;
  const missing = (id: string) =>
    new HeraldError(
      'not_found',
      `no recipient "${id}": create it first (PUT /v1/recipients/${id})`,
    );

  return {
    /** The recipient's preferences with defaults filled in; not_found if no such recipient. */
    async get(recipientId: string): Promise<Preferences> {
      const id = checked(recipientIdSchema, recipientId, 'id');
      const { rows } = await db.query<{ exists: boolean; document: unknown }>(
        `SELECT true AS exists, p.document FROM ${recipients} r
         LEFT JOIN ${table} p ON p.recipient_id = r.id WHERE r.id = $1`,
        [id],
      );
      if (!rows[0]) throw missing(id);
      return preferencesSchema.parse(rows[0].document ?? {});
    },

    /** Replaces the preferences; answers them as stored (defaults filled in). */
    async put(recipientId: string, input: unknown): Promise<Preferences> {
      const id = checked(recipientIdSchema, recipientId, 'id');
      const prefs = checked(preferencesSchema, input);
      hooks.checkSchedules?.(Object.keys(prefs.schedules));
      return db.transaction(async (tx) => {
        const { rows } = await tx.query(
          `INSERT INTO ${table} (recipient_id, document)
           SELECT id, $2::jsonb FROM ${recipients} WHERE id = $1
           ON CONFLICT (recipient_id) DO UPDATE SET document = excluded.document, updated_at = now()
           RETURNING recipient_id`,
          [id, JSON.stringify(prefs)],
        );
        if (rows.length === 0) throw missing(id);
        await hooks.stored?.(tx, id);
        return prefs;
      });
    },

    /**
     * Switches a type off for the recipient (the unsubscribe link), leaving the rest of their
     * preferences as they are; one statement, so it cannot lose a concurrent change.
     */
    async optOut(recipientId: string, type: string): Promise<boolean> {
      const { rows } = await db.query(
        `INSERT INTO ${table} AS p (recipient_id, document)
         SELECT id, jsonb_build_object('types', jsonb_build_object($2::text, false))
         FROM ${recipients} WHERE id = $1
         ON CONFLICT (recipient_id) DO UPDATE SET
           document = jsonb_set(p.document, '{types}',
             coalesce(p.document -> 'types', '{}'::jsonb) || jsonb_build_object($2::text, false)),
           updated_at = now()
         RETURNING recipient_id`,
        [recipientId, type],
      );
      return rows.length > 0;
    },
  };
}

export type PreferencesStore = ReturnType<typeof makePreferences>;
