/**
 * The suppression list: addresses Herald never sends to again on a channel, because they
 * hard-bounced, complained of spam (provider webhooks add these), or an operator blocked them
 * (`PUT /v1/admin/suppressions`). The trigger reads the list in its facts query and skips such
 * deliveries with reason `suppressed` (send.ts, policy.ts); removing an entry lets later sends
 * through.
 *
 * Email addresses are compared lower-cased (and trimmed); phone numbers as given.
 */
import { z } from 'zod';
import type { Db, Queryable } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { checked } from '../validation.js';

import {
  SUPPRESSION_CHANNELS,
  SUPPRESSION_REASONS,
  type SuppressionChannel,
  type SuppressionReason,
} from '../types.js';

export {
  SUPPRESSION_CHANNELS,
  SUPPRESSION_REASONS,
  type SuppressionChannel,
  type SuppressionReason,
} from '../types.js';

export const suppressionKeySchema = z.strictObject({
  channel: z.enum(SUPPRESSION_CHANNELS),
  address: z.string().trim().min(1).max(320),
});

export const suppressionInputSchema = suppressionKeySchema.extend({
  reason: z.enum(SUPPRESSION_REASONS).default('manual'),
});

export const suppressionQuerySchema = z.strictObject({
  channel: z.enum(SUPPRESSION_CHANNELS).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export interface Suppression {
  channel: SuppressionChannel;
  address: string;
  reason: SuppressionReason;
  source: string;
  createdAt: string;
}

/** The stored form of an address: email lower-cased; both trimmed. */
export function normalizeAddress(channel: SuppressionChannel, address: string): string {
  const a = address.trim();
  return channel === 'email' ? a.toLowerCase() : a;
}

export function makeSuppressions(db: Db, schema: string) {
  const s = quoteIdent(schema);
  const sql = {
    // An existing entry keeps its first reason and source: a later bounce of a blocked
    // address says nothing new.
    add: `INSERT INTO ${s}.suppressions (channel, address, reason, source) VALUES ($1, $2, $3, $4)
          ON CONFLICT (channel, address) DO NOTHING`,
    remove: `DELETE FROM ${s}.suppressions WHERE channel = $1 AND address = $2 RETURNING address`,
    list: `SELECT channel, address, reason, source, created_at FROM ${s}.suppressions
           WHERE ($1::text IS NULL OR channel = $1) ORDER BY created_at DESC, address LIMIT $2`,
    // One statement for any number of addresses.
    batch: `SELECT address FROM ${s}.suppressions WHERE channel = $1 AND address = ANY($2::text[])`,
  };

  return {
    /** Adds an address (a no-op if it is already there). */
    async add(
      input: { channel: SuppressionChannel; address: string; reason?: SuppressionReason },
      source: string,
      q: Queryable = db,
    ): Promise<void> {
      const v = checked(suppressionInputSchema, input);
      await q.query(sql.add, [v.channel, normalizeAddress(v.channel, v.address), v.reason, source]);
    },
    /** Removes an address; false if it was not on the list. */
    async remove(input: { channel: SuppressionChannel; address: string }): Promise<boolean> {
      const v = checked(suppressionKeySchema, input);
      const { rows } = await db.query(sql.remove, [
        v.channel,
        normalizeAddress(v.channel, v.address),
      ]);
      return rows.length > 0;
    },
    /** Newest first. */
    async list(query: unknown = {}): Promise<{ items: Suppression[] }> {
      const v = checked(suppressionQuerySchema, query);
      const { rows } = await db.query<{
        channel: SuppressionChannel;
        address: string;
        reason: SuppressionReason;
        source: string;
        created_at: Date;
      }>(sql.list, [v.channel ?? null, v.limit]);
      return {
        items: rows.map((r) => ({
          channel: r.channel,
          address: r.address,
          reason: r.reason,
          source: r.source,
          createdAt: r.created_at.toISOString(),
        })),
      };
    },
    /** Which of these addresses are suppressed on the channel (as given, in one query). */
    async isSuppressed(channel: SuppressionChannel, addresses: string[]): Promise<Set<string>> {
      const byNormal = new Map(addresses.map((a) => [normalizeAddress(channel, a), a]));
      const { rows } = await db.query<{ address: string }>(sql.batch, [
        channel,
        [...byNormal.keys()],
      ]);
      return new Set(rows.map((r) => byNormal.get(r.address) as string));
    },
  };
}

export type Suppressions = ReturnType<typeof makeSuppressions>;
