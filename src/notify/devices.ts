/**
 * Devices: a recipient's push addresses. An address (token, or Web Push endpoint) belongs to one
 * recipient: registering it again, for anyone, moves it there and makes it active (a phone that
 * changed hands keeps its token). Providers deactivate addresses they report as gone.
 */
import { z } from 'zod';
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { HeraldError } from '../errors.js';
import { checked } from '../validation.js';
import { recipientIdSchema } from './recipients.js';

const base64urlBytes = (bytes: number, what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, `${what} must be base64url`)
    .refine((s) => Buffer.from(s, 'base64url').length === bytes, `${what} must be ${bytes} bytes`);

export const deviceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('apns'),
    token: z
      .string()
      .regex(/^[0-9a-fA-F]{64,200}$/, 'an APNs device token is hex (64 characters or more)'),
  }),
  z.strictObject({ kind: z.literal('fcm'), token: z.string().min(20).max(4096) }),
  z.strictObject({
    kind: z.literal('webpush'),
    subscription: z.strictObject({
      endpoint: z.url({ protocol: /^https$/ }).max(2048),
      expirationTime: z.number().nullable().optional(),
      keys: z.strictObject({
        // An uncompressed P-256 point and a 16-byte secret (RFC 8291).
        p256dh: base64urlBytes(65, 'p256dh'),
        auth: base64urlBytes(16, 'auth'),
      }),
    }),
  }),
]);

/** What names a device to unregister: its token, or its subscription's endpoint. */
export const deviceRefSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.enum(['apns', 'fcm']), token: z.string().min(1).max(4096) }),
  z.strictObject({
    kind: z.literal('webpush'),
    subscription: z.looseObject({ endpoint: z.string().min(1).max(2048) }),
  }),
]);

export interface Device {
  id: string;
  recipientId: string;
  kind: 'apns' | 'fcm' | 'webpush';
  token: string | null;
  subscription: unknown;
  active: boolean;
  createdAt: Date;
}

interface DeviceRow {
  id: string;
  recipient_id: string;
  kind: Device['kind'];
  address: string;
  subscription: unknown;
  active: boolean;
  created_at: Date;
  inserted?: boolean;
}

const toDevice = (r: DeviceRow): Device => ({
  id: String(r.id),
  recipientId: r.recipient_id,
  kind: r.kind,
  token: r.kind === 'webpush' ? null : r.address,
  subscription: r.subscription,
  active: r.active,
  createdAt: r.created_at,
});

export function makeDevices(db: Db, schema: string) {
  const table = `${quoteIdent(schema)}.devices`;
  const recipients = `${quoteIdent(schema)}.recipients`;
  const cols = 'id::text AS id, recipient_id, kind, address, subscription, active, created_at';
  return {
    async register(
      recipientId: string,
      input: unknown,
    ): Promise<{ device: Device; created: boolean }> {
      const id = checked(recipientIdSchema, recipientId, 'id');
      const d = checked(deviceSchema, input);
      const address = d.kind === 'webpush' ? d.subscription.endpoint : d.token;
      const subscription = d.kind === 'webpush' ? JSON.stringify(d.subscription) : null;
      const { rows } = await db.query<DeviceRow>(
        `INSERT INTO ${table} AS d (recipient_id, kind, address, subscription)
         SELECT id, $2, $3, $4::jsonb FROM ${recipients} WHERE id = $1
         ON CONFLICT (kind, address) DO UPDATE SET recipient_id = excluded.recipient_id,
           subscription = excluded.subscription, active = true, updated_at = now()
         RETURNING ${cols}, (xmax = 0) AS inserted`,
        [id, d.kind, address, subscription],
      );
      const row = rows[0];
      if (!row)
        throw new HeraldError(
          'not_found',
          `no recipient "${id}": create it first (PUT /v1/recipients/${id})`,
        );
      return { device: toDevice(row), created: row.inserted === true };
    },

    /** Removes the recipient's device with this token or endpoint; false if there was none. */
    async unregister(recipientId: string, input: unknown): Promise<boolean> {
      const id = checked(recipientIdSchema, recipientId, 'id');
      const ref = checked(deviceRefSchema, input);
      const address = ref.kind === 'webpush' ? ref.subscription.endpoint : ref.token;
      const { rows } = await db.query(
        `DELETE FROM ${table} WHERE recipient_id = $1 AND kind = $2 AND address = $3 RETURNING id`,
        [id, ref.kind, address],
      );
      return rows.length > 0;
    },

    async list(recipientId: string): Promise<Device[]> {
      const { rows } = await db.query<DeviceRow>(
        `SELECT ${cols} FROM ${table} WHERE recipient_id = $1 ORDER BY id`,
        [checked(recipientIdSchema, recipientId, 'id')],
      );
      return rows.map(toDevice);
    },
  };
}

export type Devices = ReturnType<typeof makeDevices>;
