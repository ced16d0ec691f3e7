/**
 * The decisions of a trigger (send.ts), as pure functions that need no database: which
 * channels, which recipients are unknown, what each delivery becomes (queued, skipped, held for
 * a digest) and the rows and jobs that say so, and the counts for metrics. send.ts does the
 * reading and writing around them.
 */
import { HeraldError, ValidationError } from '../errors.js';
import type { DeliveredStatus, JobSpec } from '../types.js';
import type { DigestHold } from './digests.js';
import { uuidv7 } from './ids.js';
import { decide, type RecipientFacts } from './policy.js';
import type { Channel, NotificationType } from './types.js';

const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];
export { PRIORITIES };
/** Job priority by notification priority: urgent work overtakes a backlog of bulk sends. */
export const JOB_PRIORITY: Record<Priority, number> = { low: 0, normal: 10, high: 20, urgent: 30 };

export interface DeliverySummary {
  id: string;
  channel: Channel;
  status: 'queued' | 'skipped' | 'sent' | 'failed' | 'cancelled' | DeliveredStatus;
  reason: string | null;
  runAt: string | null;
}

export interface NotificationSummary {
  id: string;
  recipientId: string | null;
  type: string;
  priority: Priority;
  sendAt: string;
  deliveries: DeliverySummary[];
}

/** The channels a trigger sends on: its own subset of the type's, or all of the type's. */
export function triggerChannels(type: NotificationType, asked: Channel[] | undefined): Channel[] {
  const channels = asked ?? type.channels;
  const extra = channels.filter((c) => !type.channels.includes(c));
  if (extra.length > 0) {
    throw new ValidationError([
      { field: 'channels', message: `type "${type.name}" has no ${extra.join(', ')} channel` },
    ]);
  }
  return channels;
}

/** The `unknown_recipient` error for the ids of `chunk` that `known` lacks, or undefined. */
export function unknownRecipients(
  chunk: string[],
  known: { has(id: string): boolean },
): HeraldError | undefined {
  const unknown = chunk.filter((id) => !known.has(id));
  if (unknown.length === 0) return undefined;
  const shown = unknown
    .slice(0, 5)
    .map((u) => JSON.stringify(u))
    .join(', ');
  return new HeraldError(
    'unknown_recipient',
    `no recipient ${shown}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}: ` +
      'create recipients first (PUT /v1/recipients/{id}) or pass an inline recipient object as `to`',
    [{ field: 'to', message: `${unknown.length} unknown recipient id(s)` }],
  );
}

export interface PlanInput {
  type: NotificationType;
  channels: Channel[];
  priority: Priority;
  /** When the trigger sends (ms), not before now. */
  at: number;
  /** The trigger's clock (ms), for the ids. */
  now: number;
  hasProvider: (channel: Channel) => boolean;
  deliveryMaxAttempts: number;
}

/** The rows, jobs and digest holds of one chunk of recipients, column by column for unnest. */
export interface ChunkPlan {
  notificationIds: string[];
  deliveries: {
    id: string[];
    nid: string[];
    channel: Channel[];
    status: ('queued' | 'skipped')[];
    reason: (string | null)[];
    runAt: (Date | null)[];
  };
  jobs: JobSpec[];
  holds: DigestHold[];
  summaries: NotificationSummary[];
  /**
   * The recipients whose delivery on a channel renders the type's own templates at delivery
   * time (queued and not held for a digest), by channel: what trigger-check.ts renders.
   */
  rendered: { recipientId: string; channel: Channel }[];
}

/** Decides every delivery of `recipientIds` (each with its facts) and lays out the rows. */
export function planChunk(
  p: PlanInput,
  recipientIds: string[],
  facts: { get(id: string): RecipientFacts | undefined },
): ChunkPlan {
  const plan: ChunkPlan = {
    notificationIds: [],
    deliveries: { id: [], nid: [], channel: [], status: [], reason: [], runAt: [] },
    jobs: [],
    holds: [],
    summaries: [],
    rendered: [],
  };
  const d = plan.deliveries;
  // Most deliveries run at the trigger's own time: its ISO text is made once, not per row.
  const atIso = new Date(p.at).toISOString();
  const iso = (t: Date) => (t.getTime() === p.at ? atIso : t.toISOString());
  for (const rid of recipientIds) {
    const nid = uuidv7(p.now);
    plan.notificationIds.push(nid);
    const f = facts.get(rid) as RecipientFacts;
    const deliveries: DeliverySummary[] = [];
    for (const channel of p.channels) {
      const decision = decide(f, p.type, p.priority, channel, p.at, p.hasProvider);
      const id = uuidv7(p.now);
      const status = decision.skip ? 'skipped' : 'queued';
      const reason =
        decision.skip ??
        (decision.digest ? 'digest' : decision.deferredByQuietHours ? 'quiet_hours' : null);
      const runAt = decision.skip ? null : new Date(decision.runAt);
      d.id.push(id);
      d.nid.push(nid);
      d.channel.push(channel);
      d.status.push(status);
      d.reason.push(reason);
      d.runAt.push(runAt);
      deliveries.push({ id, channel, status, reason, runAt: runAt ? iso(runAt) : null });
      if (!decision.skip && decision.digest && runAt) {
        const window = decision.digest;
        plan.holds.push({ deliveryId: id, recipientId: rid, channel, sendAt: runAt, window });
      } else if (runAt) {
        plan.jobs.push({
          kind: 'deliver',
          payload: { deliveryId: id },
          key: `deliver:${id}`,
          runAt,
          priority: JOB_PRIORITY[p.priority],
          maxAttempts: p.deliveryMaxAttempts,
        });
        plan.rendered.push({ recipientId: rid, channel });
      }
    }
    plan.summaries.push({
      id: nid,
      recipientId: rid,
      type: p.type.name,
      priority: p.priority,
      sendAt: atIso,
      deliveries,
    });
  }
  return plan;
}

/** Deliveries by channel, status and reason, for the delivery counter (metrics). */
export function deliveryCounts(
  notifications: NotificationSummary[],
): { channel: string; status: string; reason: string | null; n: number }[] {
  const counts = new Map<
    string,
    { channel: string; status: string; reason: string | null; n: number }
  >();
  for (const n of notifications)
    for (const d of n.deliveries) {
      const k = `${d.channel}\u0000${d.status}\u0000${d.reason ?? ''}`;
      const c = counts.get(k);
      if (c) c.n += 1;
      else counts.set(k, { channel: d.channel, status: d.status, reason: d.reason, n: 1 });
    }
  return [...counts.values()];
}
