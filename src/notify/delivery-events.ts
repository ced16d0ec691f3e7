/**
 * What providers report after a send (status webhooks), applied to deliveries: the status
 * moves on, each event is appended to the delivery's history, and hard bounces and
 * complaints put the address on the suppression list (suppressions.ts).
 *
 * Status only moves forward, whatever order events arrive in:
 * sent < delivered < opened < clicked < failed < bounced < complained (`failed` here is a
 * provider's report that it could not deliver a message it accepted: Twilio undelivered). An
 * earlier-ranked event (an open reported after a click) is still recorded in the history.
 * A `NoteStatus` (a soft bounce, a delay) is only recorded: it never moves the status.
 */
import type { Db } from '../db/db.js';
import { quoteIdent } from '../db/sql.js';
import { isUuid } from './ids.js';
import { makeSuppressions } from './suppressions.js';
import type { DeliveryEvent } from '../types.js';

// The event vocabulary lives in src/types.ts: channels/ parses events, this file applies them.
export type { DeliveryEvent, NoteStatus } from '../types.js';

// Not ranked, so never ahead of anything: array_position is NULL in SQL, indexOf -1 here.
const RANK = ['sent', 'delivered', 'opened', 'clicked', 'failed', 'bounced', 'complained'];

export function makeDeliveryEvents(db: Db, schema: string) {
  const s = quoteIdent(schema);
  const suppressions = makeSuppressions(db, schema);
  // One statement for a whole batch: events are folded per delivery first, because an
  // UPDATE ... FROM applies one source row per target row. A status ranked after the current
  // one (array_position; queued ranks 0) replaces it.
  const update = (match: string, idType: string) => `UPDATE ${s}.deliveries d
      SET status = CASE WHEN array_position($4::text[], u.status) > coalesce(array_position($4::text[], d.status), 0)
                   THEN u.status ELSE d.status END,
          events = d.events || u.events, updated_at = now()
      FROM unnest($1::${idType}[], $2::text[], $3::jsonb[]) AS u (id, status, events)
      WHERE ${match} AND d.status NOT IN ('skipped', 'cancelled')
      RETURNING d.id`;
  const sql = {
    byId: update('d.id = u.id', 'uuid'),
    // Events that name only the provider's message id (Twilio's MessageSid; index 0010).
    byMessage: update('d.provider = $5 AND d.provider_message_id = u.id', 'text'),
  };

  type Folded = Map<string, { status: DeliveryEvent['status']; events: unknown[] }>;

  return {
    /** Applies a batch of events in one transaction; answers how many deliveries changed. */
    async apply(events: DeliveryEvent[], source: string): Promise<{ deliveries: number }> {
      const byId: Folded = new Map();
      const byMessage: Folded = new Map();
      for (const e of [...events].sort((a, b) => a.at.getTime() - b.at.getTime())) {
        let map: Folded;
        let key: string;
        if (e.deliveryId && isUuid(e.deliveryId)) [map, key] = [byId, e.deliveryId];
        else if (e.providerMessageId) [map, key] = [byMessage, e.providerMessageId];
        else continue;
        const entry = {
          at: e.at.toISOString(),
          status: e.status,
          detail: `${source}: ${e.detail}`,
        };
        const seen = map.get(key);
        if (!seen) map.set(key, { status: e.status, events: [entry] });
        else {
          seen.events.push(entry);
          if (RANK.indexOf(e.status) > RANK.indexOf(seen.status)) seen.status = e.status;
        }
      }
      const params = (map: Folded) => [
        [...map.keys()],
        [...map.values()].map((v) => v.status),
        [...map.values()].map((v) => JSON.stringify(v.events)),
        RANK,
      ];
      return db.transaction(async (tx) => {
        for (const e of events) if (e.suppress) await suppressions.add(e.suppress, source, tx);
        let changed = 0;
        if (byId.size > 0) changed += (await tx.query(sql.byId, params(byId))).rows.length;
        if (byMessage.size > 0)
          changed += (await tx.query(sql.byMessage, [...params(byMessage), source])).rows.length;
        return { deliveries: changed };
      });
    },
  };
}

export type DeliveryEvents = ReturnType<typeof makeDeliveryEvents>;
