/**
 * Reminders are sent exactly once across processes and crashes, on the real PostgreSQL server:
 * three `herald worker` processes (the compiled CLI, `npm run build` first), a reminder for 200
 * recipients × 2 offsets, and kill -9 of a random worker three times while reminder jobs are
 * running, a new worker started after each. Counted from the notifications table: one per
 * recipient × offset, none missing, none twice, and every row says sent with its notification.
 *
 * Both offsets are due within seconds: "2m" is already past when set and sent at once
 * (`late: "send"`), "1m" comes due four seconds later (offsets have minute granularity).
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createHerald, type Herald } from '../src/index.js';
import { dropSchema, freshSchema, PG_URL, pgSkipReason, sleep, waitFor } from './helpers/db.js';
import { startHeraldWorker } from './helpers/processes.js';

const skip = await pgSkipReason();
const RECIPIENTS = 200;
const OFFSETS = ['2m', '1m'];

describe('reminders across worker processes on PostgreSQL', { skip }, () => {
  const schema = freshSchema('remproc');
  let herald: Herald;
  const workers: ChildProcess[] = [];
  const stderr: string[] = [];

  before(async () => {
    herald = await createHerald({ databaseUrl: PG_URL, schema, logLevel: 'warn' });
  });
  after(async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
    await herald.close();
    await dropSchema(schema);
  });

  async function startWorker(): Promise<ChildProcess> {
    const child = await startHeraldWorker(
      {
        DATABASE_URL: PG_URL,
        HERALD_SCHEMA: schema,
        HERALD_CONCURRENCY: '4',
        // A short lease, so a killed worker's jobs run again within seconds.
        HERALD_LEASE_MS: '2000',
        HERALD_POLL_INTERVAL_MS: '200',
      },
      stderr,
    );
    workers.push(child);
    return child;
  }

  const one = async <T>(sql: string, params: unknown[] = []) =>
    (await herald.db.query<T>(sql.replaceAll('$S', `"${schema}"`), params)).rows[0] as T;
  const running = async () =>
    (
      await one<{ n: number }>(
        `SELECT count(*)::int AS n FROM $S.jobs WHERE kind = 'reminder' AND status = 'processing'`,
      )
    ).n;

  it('200 recipients × 2 offsets, three workers, kill -9 three times: one notification each', async () => {
    await herald.types.put('nudge', {
      channels: ['inapp'],
      templates: { inapp: { title: 'Due {{reminder.offset}} before', body: '{{reminder.dueAt}}' } },
    });
    const ids = Array.from({ length: RECIPIENTS }, (_, i) => `r-${i}`);
    for (const id of ids) await herald.recipients.upsert(id, {});
    const live = await Promise.all([startWorker(), startWorker(), startWorker()]);

    // How often a reminder job was claimed again after its worker died (seen while it waited).
    let rerun = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const { n } = await one<{ n: number }>(
          `SELECT count(*)::int AS n FROM $S.jobs WHERE kind = 'reminder' AND attempts > 1`,
        );
        rerun = Math.max(rerun, n);
        await sleep(100);
      }
    })();

    const dueAt = new Date(Date.now() + 60_000 + 4_000);
    const { reminder } = await herald.reminders.put('proc-1', {
      to: ids,
      type: 'nudge',
      dueAt: dueAt.toISOString(),
      offsets: OFFSETS,
      late: 'send',
    });
    assert.equal(reminder.items.length, RECIPIENTS * OFFSETS.length);
    const secondRunAt = dueAt.getTime() - 60_000;

    // Kill -9 a random worker three times at random moments while reminder jobs run: in the
    // late burst, in the burst at the "1m" run time, and once more; a new one after each.
    const kills: { at: number; running: number }[] = [];
    // Replacements start in the background: a busy machine takes seconds to start a process,
    // and the 1m offset's burst (4 s after the late one) does not wait for it.
    const starting: Promise<void>[] = [];
    /** Kills `victim` (default: a random live worker), counting the reminder jobs in flight. */
    const killOne = async (victim?: ChildProcess) => {
      const target = victim ?? live[Math.floor(Math.random() * live.length)];
      live.splice(live.indexOf(target as ChildProcess), 1);
      const inFlight = await running();
      target?.kill('SIGKILL');
      kills.push({ at: Date.now(), running: inFlight });
      starting.push(startWorker().then((w) => void live.push(w)));
    };
    /**
     * Kills a worker that holds a reminder job right now (its pid is in the job's `locked_by`,
     * `host:pid:...`): on a busy machine a random victim after a random pause often found the
     * burst already done.
     */
    const whileRunning = async (what: string) => {
      const holder = await waitFor(
        async () => {
          const { rows } = await herald.db.query<{ locked_by: string }>(
            `SELECT locked_by FROM "${schema}".jobs
             WHERE kind = 'reminder' AND status = 'processing' AND locked_by IS NOT NULL`,
          );
          const pids = new Set(rows.map((r) => Number(r.locked_by.split(':')[1])));
          return live.find((w) => w.pid !== undefined && pids.has(w.pid));
        },
        15_000,
        `a worker holding a reminder job (${what})`,
      );
      await killOne(holder);
    };
    await whileRunning('late burst');
    // Watch from a moment before the burst: 200 short jobs can all finish between a late
    // timer's wake-up and the first look (a CI run saw none running).
    await sleep(Math.max(0, secondRunAt - 500 - Date.now()));
    await whileRunning('the 1m offset');
    await sleep(Math.random() * 1_000);
    await killOne();
    await Promise.all(starting);

    await waitFor(
      async () =>
        (
          await one<{ n: number }>(
            `SELECT count(*)::int AS n FROM $S.reminder_offsets WHERE reminder_key = 'proc-1' AND status <> 'sent'`,
          )
        ).n === 0,
      60_000,
      'every recipient × offset to be sent',
    );
    await waitFor(
      async () =>
        (
          await one<{ n: number }>(
            `SELECT count(*)::int AS n FROM $S.jobs WHERE kind = 'reminder' AND status IN ('queued', 'processing')`,
          )
        ).n === 0,
      30_000,
      'no reminder job left',
    );
    await sleep(500); // a late duplicate would show now
    watching = false;
    await watch;

    const counts = await one<{ total: number; distinct: number; most: number; keys: number }>(
      `SELECT (SELECT count(*)::int FROM $S.notifications WHERE type = 'nudge') AS total,
         (SELECT count(DISTINCT (recipient_id, data->'reminder'->>'offset'))::int
            FROM $S.notifications WHERE type = 'nudge') AS distinct,
         (SELECT coalesce(max(n), 0)::int FROM (SELECT count(*) AS n FROM $S.notifications
            WHERE type = 'nudge' GROUP BY recipient_id, data->'reminder'->>'offset') g) AS most,
         (SELECT count(*)::int FROM $S.idempotency_keys WHERE key LIKE 'reminder:proc-1:%') AS keys`,
    );
    assert.equal(counts.most, 1, 'no recipient × offset notified twice');
    assert.equal(counts.distinct, RECIPIENTS * OFFSETS.length, 'none missing');
    assert.equal(counts.total, RECIPIENTS * OFFSETS.length);
    assert.equal(counts.keys, RECIPIENTS * OFFSETS.length);
    // Every row names the notification it sent, and that notification is its own.
    const mismatched = await one<{ n: number }>(
      `SELECT count(*)::int AS n FROM $S.reminder_offsets o
       LEFT JOIN $S.notifications n ON n.id = o.notification_id
       WHERE o.reminder_key = 'proc-1' AND (o.status <> 'sent' OR n.id IS NULL
         OR n.recipient_id <> o.recipient_id OR n.data->'reminder'->>'offset' <> o.offset_label)`,
    );
    assert.equal(mismatched.n, 0);
    assert.equal(kills.length, 3);
    assert.ok(
      kills.slice(0, 2).every((k) => k.running > 0),
      'two kills hit while reminder jobs ran',
    );
    process.stderr.write(
      `  reminders: ${kills.map((k) => `kill with ${k.running} running`).join(', ')}; ` +
        `up to ${rerun} reminder jobs claimed again after a kill\n`,
    );
    for (const w of live) {
      w.kill('SIGTERM');
      await new Promise((resolve) =>
        w.exitCode !== null ? resolve(null) : w.once('exit', resolve),
      );
    }
  });
});
