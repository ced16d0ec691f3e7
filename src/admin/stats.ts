/**
 * The overview's figures, read from the tables (so every process and host is counted, and
 * nothing is kept beside the data): notifications and deliveries per bucket by channel and
 * status, the failure rate, each provider's time from due to sent, and the queue.
 *
 * Rows are found by id range (ids are UUIDv7, notification-list.ts), so a range reads only
 * its own rows through the primary key. A delivery counts in the bucket it was created in,
 * under its status now.
 */
import type { Herald } from '../herald.js';
import { quoteIdent } from '../db/sql.js';
import { firstIdAt } from '../notify/ids.js';
import { queueLines } from '../queue/queue-lines.js';

export const RANGES = {
  hour: { ms: 3_600_000, bucketMs: 60_000, label: 'last hour' },
  day: { ms: 86_400_000, bucketMs: 15 * 60_000, label: 'last day' },
  week: { ms: 7 * 86_400_000, bucketMs: 3_600_000, label: 'last week' },
} as const;
export type Range = keyof typeof RANGES;

export interface Overview {
  range: Range;
  bucketMs: number;
  /** Bucket starts, epoch seconds (what uPlot takes). */
  buckets: number[];
  notifications: number[];
  /** Deliveries per bucket by channel, and by status. */
  byChannel: Record<string, number[]>;
  byStatus: Record<string, number[]>;
  /** failed / (sent + failed) per bucket, null where nothing finished. */
  failureRate: (number | null)[];
  totals: { notifications: number; deliveries: Record<string, number>; failureRate: number | null };
  providers: { provider: string; sent: number; failed: number; p50Ms: number; p95Ms: number }[];
  queue: {
    queue: string;
    kind: string;
    queued: number;
    processing: number;
    dead: number;
    lagMs: number | null;
  }[];
  oldestDueLagMs: number | null;
  deadJobs: number;
}

export async function overview(herald: Herald, range: Range, now = Date.now()): Promise<Overview> {
  const s = quoteIdent(herald.config.schema);
  const { ms, bucketMs } = RANGES[range];
  const start = Math.floor((now - ms) / bucketMs) * bucketMs + bucketMs;
  const buckets = Array.from({ length: Math.round(ms / bucketMs) }, (_, i) => start + i * bucketMs);
  const from = firstIdAt(start);
  const index = (at: Date | string) => Math.floor((new Date(at).getTime() - start) / bucketMs);
  const zeros = () => buckets.map(() => 0);
  const bin = `to_timestamp(floor(extract(epoch FROM created_at) * 1000 / $2) * $2 / 1000)`;

  const [notes, deliveries, providers, queue] = await Promise.all([
    herald.db.query<{ b: Date; n: number }>(
      `SELECT ${bin} AS b, count(*)::int AS n FROM ${s}.notifications
       WHERE id >= $1::uuid GROUP BY 1`,
      [from, bucketMs],
    ),
    herald.db.query<{ b: Date; channel: string; status: string; n: number }>(
      `SELECT ${bin} AS b, channel, status, count(*)::int AS n FROM ${s}.deliveries
       WHERE id >= $1::uuid GROUP BY 1, 2, 3`,
      [from, bucketMs],
    ),
    herald.db.query<{ provider: string; sent: number; failed: number; p50: number; p95: number }>(
      `SELECT provider, count(*) FILTER (WHERE status = 'sent')::int AS sent,
         count(*) FILTER (WHERE status = 'failed')::int AS failed,
         coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - greatest(created_at, coalesce(run_at, created_at))) * 1000), 0) AS p50,
         coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - greatest(created_at, coalesce(run_at, created_at))) * 1000), 0) AS p95
       FROM ${s}.deliveries
       WHERE id >= $1::uuid AND provider IS NOT NULL AND status IN ('sent', 'failed')
       GROUP BY provider ORDER BY provider`,
      [from],
    ),
    herald.queue.status(),
  ]);

  const notifications = zeros();
  for (const r of notes.rows) {
    const i = index(r.b);
    if (i >= 0 && i < buckets.length) notifications[i] = (notifications[i] ?? 0) + r.n;
  }
  const byChannel: Record<string, number[]> = {};
  const byStatus: Record<string, number[]> = {};
  const totals: Record<string, number> = {};
  for (const r of deliveries.rows) {
    const i = index(r.b);
    if (i < 0 || i >= buckets.length) continue;
    const c = (byChannel[r.channel] ??= zeros());
    c[i] = (c[i] ?? 0) + r.n;
    const st = (byStatus[r.status] ??= zeros());
    st[i] = (st[i] ?? 0) + r.n;
    totals[r.status] = (totals[r.status] ?? 0) + r.n;
  }
  const rate = (failed: number, sent: number) =>
    failed + sent > 0 ? failed / (failed + sent) : null;
  const failureRate = buckets.map((_, i) =>
    rate(byStatus.failed?.[i] ?? 0, byStatus.sent?.[i] ?? 0),
  );

  const queueRows = queueLines(queue).map((l) => ({
    queue: l.queue,
    kind: l.kind,
    queued: l.queued,
    processing: l.processing,
    dead: l.dead,
    lagMs: l.oldestDueLagMs,
  }));
  const lags = queueRows.flatMap((k) => (k.lagMs === null ? [] : [k.lagMs]));
  const oldestDueLagMs = lags.length > 0 ? Math.max(...lags) : null;

  return {
    range,
    bucketMs,
    buckets: buckets.map((b) => b / 1_000),
    notifications,
    byChannel,
    byStatus,
    failureRate,
    totals: {
      notifications: notifications.reduce((a, b) => a + b, 0),
      deliveries: totals,
      failureRate: rate(totals.failed ?? 0, totals.sent ?? 0),
    },
    providers: providers.rows.map((r) => ({
      provider: r.provider,
      sent: Number(r.sent),
      failed: Number(r.failed),
      p50Ms: Math.round(Number(r.p50)),
      p95Ms: Math.round(Number(r.p95)),
    })),
    queue: queueRows,
    oldestDueLagMs,
    deadJobs: queueRows.reduce((a, k) => a + k.dead, 0),
  };
}
