/**
 * What providers report after a send (status webhooks), applied to deliveries: the status
 * moves on, each event is appended to the delivery's history, and hard bounces and
 * complaints put the address on the suppression list (suppressions.ts).
 *
 * Status only moves forward, whatever order events arrive in:
 * sent < delivered < opened < clicked < bounced < complained. An earlier-ranked event (an
 * open reported after a click) is still recorded in the history.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { isUuid } from './ids.js';
import {
  makeSuppressions,
  type SuppressionChannel,
  type SuppressionReason,
} from './suppressions.js';
import type { DeliveredStatus } from './send.js';

export interface DeliveryEvent {
  /** Herald's delivery id as the provider echoes it; null when only the address matters. */
  deliveryId: string | null;
  status: DeliveredStatus;
  detail: string;
  at: Date;
  /** Put this address on the suppression list. */
  suppress?: { channel: SuppressionChannel; address: string; reason: SuppressionReason };
}

const RANK = ['sent', 'delivered', 'opened', 'clicked', 'bounced', 'complained'];

export function makeDeliveryEvents(db: Db, schema: string) {
  const s = quoteIdent(schema);
  const suppressions = makeSuppressions(db, schema);
  // One statement for a whole batch: events are folded per delivery first, because an
  // UPDATE ... FROM applies one source row per target row. A status ranked after the current
  // one (array_position; queued or failed rank 0) replaces it.
  const update = `UPDATE ${s}.deliveries d
      SET status = CASE WHEN array_position($4::text[], u.status) > coalesce(array_position($4::text[], d.status), 0)
                   THEN u.status ELSE d.status END,
          events = d.events || u.events, updated_at = now()
      FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) AS u (id, status, events)
      WHERE d.id = u.id AND d.status NOT IN ('skipped', 'cancelled')
      RETURNING d.id`;

  return {
    /** Applies a batch of events in one transaction; answers how many deliveries changed. */
    async apply(events: DeliveryEvent[], source: string): Promise<{ deliveries: number }> {
      const byId = new Map<string, { status: DeliveredStatus; events: unknown[] }>();
      for (const e of [...events].sort((a, b) => a.at.getTime() - b.at.getTime())) {
        if (!e.deliveryId || !isUuid(e.deliveryId)) continue;
        const entry = {
          at: e.at.toISOString(),
          status: e.status,
          detail: `${source}: ${e.detail}`,
        };
        const seen = byId.get(e.deliveryId);
        if (!seen) byId.set(e.deliveryId, { status: e.status, events: [entry] });
        else {
          seen.events.push(entry);
          if (RANK.indexOf(e.status) > RANK.indexOf(seen.status)) seen.status = e.status;
        }
      }
      return db.transaction(async (tx) => {
        for (const e of events) if (e.suppress) await suppressions.add(e.suppress, source, tx);
        if (byId.size === 0) return { deliveries: 0 };
        const { rows } = await tx.query(update, [
          [...byId.keys()],
          [...byId.values()].map((v) => v.status),
          [...byId.values()].map((v) => JSON.stringify(v.events)),
          RANK,
        ]);
        return { deliveries: rows.length };
      });
    },
  };
}

export type DeliveryEvents = ReturnType<typeof makeDeliveryEvents>;
