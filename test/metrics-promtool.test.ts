/**
 * /metrics as Prometheus scrapes it, after traffic on every channel (helpers/every-channel.ts:
 * SMTP, Twilio, WhatsApp, APNs, FCM, Web Push, a webhook receiver, Slack and the inbox, each a
 * local server speaking the service's protocol), a refused recipient, a repeated idempotency
 * key, a schedule run, a dead letter, a job no worker handles and a real-time connection:
 *
 * - `promtool check metrics` finds nothing to say about the live scrape;
 * - the families operators alert and chart on are there with the labels docs/operations.md
 *   lists, counting what happened (a delivery counted once with its provider, a send-time
 *   observation per provider and outcome);
 * - every PromQL query of the Grafana dashboard (ops/grafana/herald.json) and of the alert
 *   rules (ops/prometheus/alerts.yml) names only series this scrape has, with labels they
 *   carry: neither can rot silently when a metric is renamed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { providerBackends, waitFor } from './helpers/db.js';
import { CHANNELS, TYPE, startEveryChannel, type EveryChannel } from './helpers/every-channel.js';
import { dashboardExprs } from './helpers/grafana.js';
import { problemsOf, ruleExprsOf, seriesOf, typesOf } from './helpers/promql.js';
import { findPromtool, promtool } from './helpers/promtool.js';

const promtoolMissing = findPromtool().skip;
const [backend] = await providerBackends();

/** The provider of each channel in this setup (push: the fan-out over its three senders). */
const PROVIDER = {
  email: 'smtp',
  sms: 'twilio',
  whatsapp: 'whatsapp-cloud',
  push: 'apns+fcm+webpush',
  webhook: 'webhook',
  slack: 'slack',
  inapp: 'inbox',
} as const;

/** The value of the sample `name{labels}` (labels in the order served), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const inner = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${inner}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe(`metrics after traffic on every channel (${backend})`, () => {
  let h: EveryChannel;
  let ws: WebSocket | undefined;
  let text = '';
  const scrape = async () => {
    const res = await fetch(`${h.origin}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  before(async () => {
    h = await startEveryChannel(backend ?? 'pglite');
    const [ada, bob] = await Promise.all([h.trigger('ada'), h.trigger('bob')]);
    for (const d of ada.deliveries) assert.equal(d.status, 'sent', `ada ${d.channel}: ${d.error}`);
    for (const d of bob.deliveries)
      assert.equal(d.status, d.channel === 'inapp' ? 'sent' : 'failed', `bob ${d.channel}`);

    // The same idempotency key twice: the second is deduplicated.
    const again = {
      type: TYPE,
      to: 'ada',
      channels: ['inapp'],
      data: { n: 8 },
      idempotencyKey: 'k-1',
    };
    for (const status of [202, 202])
      assert.equal((await h.call('POST', '/v1/notifications', again)).status, status);

    // A cron schedule run now (admin key), counted when the worker has run it.
    const schedule = {
      cron: '0 3 * * *',
      task: 'notify',
      payload: { type: TYPE, to: 'ada', channels: ['inapp'], data: { n: 9 } },
    };
    assert.equal(
      (await h.call('PUT', '/v1/admin/schedules/nightly', schedule, h.adminKey)).status,
      201,
    );
    assert.equal(
      (await h.call('POST', '/v1/admin/schedules/nightly/run', undefined, h.adminKey)).status,
      202,
    );

    // A dead letter (a deliver job naming no delivery fails its only attempt), a job of a kind
    // no worker handles (it waits: depth and lag), and a kind an operator paused.
    await h.herald.queue.enqueue({
      kind: 'deliver',
      payload: { deliveryId: 'not-a-uuid' },
      maxAttempts: 1,
    });
    await h.herald.queue.enqueue({ kind: 'legacy.export', runAt: new Date(Date.now() - 5_000) });
    await h.herald.pauses.pause('reminder');

    // A real-time connection of ada's.
    ws = new WebSocket(`${h.origin.replace('http', 'ws')}/v1/me/ws`, {
      headers: { authorization: `Bearer ${await h.token('ada')}` },
    });
    await new Promise((resolve, reject) => ws?.once('open', resolve).once('error', reject));

    text = await waitFor(
      async () => {
        const t = await scrape();
        const ran = sample(t, 'herald_schedule_runs_total', {
          schedule: 'nightly',
          status: 'succeeded',
        });
        const dead = sample(t, 'herald_jobs_dead_total', { queue: 'default', kind: 'deliver' });
        // The idempotent trigger's and the schedule's notifications are in the inbox too.
        const inbox = sample(t, 'herald_deliveries_total', {
          channel: 'inapp',
          provider: 'inbox',
          status: 'sent',
          reason: '',
        });
        const connected = /^herald_realtime_connections 1$/m.test(t);
        return ran === 1 && dead === 1 && inbox === 4 && connected ? t : null;
      },
      20_000,
      'the schedule run, the dead letter, four inbox items and the connection in /metrics',
    );
  });
  after(async () => {
    ws?.close();
    await h?.close();
  });

  it('passes promtool check metrics with nothing to say', { skip: promtoolMissing }, async () => {
    const { code, stdout, stderr } = await promtool(['check', 'metrics'], text);
    assert.equal(stdout + stderr, '', 'promtool has lint findings');
    assert.equal(code, 0);
  });

  it('counts notifications, deliveries with their provider, and send times', () => {
    assert.equal(
      sample(text, 'herald_notifications_total', { type: TYPE, status: 'deduplicated' }),
      1,
    );
    // ada, bob, the first of the idempotent pair, the schedule's run.
    assert.equal(sample(text, 'herald_notifications_total', { type: TYPE, status: 'created' }), 4);
    for (const channel of CHANNELS) {
      const provider = PROVIDER[channel];
      const delivered = (status: string, reason: string) =>
        sample(text, 'herald_deliveries_total', { channel, provider, status, reason });
      const sent = channel === 'inapp' ? 4 : 1;
      assert.equal(delivered('sent', ''), sent, `${channel} sent`);
      if (channel !== 'inapp')
        assert.equal(delivered('failed', 'permanent_error'), 1, `${channel} failed`);
      assert.equal(
        sample(text, 'herald_deliveries_queued_total', { channel, reason: '' }),
        channel === 'inapp' ? 4 : 2,
      );
      if (channel === 'inapp') continue; // no provider call: the inbox is a table
      const observed = (outcome: string) =>
        sample(text, 'herald_delivery_duration_seconds_count', { channel, provider, outcome });
      assert.equal(observed('sent'), 1, `${channel} send time`);
      assert.equal(observed('permanent_error'), 1, `${channel} refused send time`);
      const inf = sample(text, 'herald_delivery_duration_seconds_bucket', {
        le: '+Inf',
        channel,
        provider,
        outcome: 'sent',
      });
      assert.equal(inf, 1, `${channel} +Inf bucket`);
    }
  });

  it('serves the families operators alert on, with the documented labels', () => {
    const types = typesOf(text);
    const series = seriesOf(text);
    const expected: [string, string, string[]][] = [
      ['herald_notifications_total', 'counter', ['type', 'status']],
      ['herald_deliveries_total', 'counter', ['channel', 'provider', 'status', 'reason']],
      ['herald_deliveries_queued_total', 'counter', ['channel', 'reason']],
      ['herald_delivery_duration_seconds', 'histogram', ['channel', 'provider', 'outcome']],
      ['herald_jobs', 'gauge', ['queue', 'kind', 'status']],
      ['herald_jobs_oldest_due_lag_seconds', 'gauge', ['queue', 'kind']],
      ['herald_jobs_completed_total', 'counter', ['queue', 'kind']],
      ['herald_jobs_dead_total', 'counter', ['queue', 'kind']],
      ['herald_jobs_paused', 'gauge', ['queue', 'kind']],
      ['herald_schedule_lag_seconds', 'gauge', ['kind']],
      ['herald_scheduler_last_tick_timestamp_seconds', 'gauge', []],
      ['herald_schedule_runs_total', 'counter', ['schedule', 'status']],
      ['herald_realtime_connections', 'gauge', []],
      ['herald_realtime_recipients', 'gauge', []],
    ];
    for (const [name, type, labels] of expected) {
      assert.equal(types.get(name), type, `${name} is a ${type}`);
      const sampled = series.get(type === 'histogram' ? `${name}_count` : name);
      assert.deepEqual([...(sampled ?? [])].sort(), [...labels].sort(), `${name} labels`);
    }
    assert.ok(
      (sample(text, 'herald_jobs', { queue: 'default', kind: 'deliver', status: 'dead' }) ?? 0) >=
        1,
    );
    assert.ok(
      (sample(text, 'herald_jobs_oldest_due_lag_seconds', {
        queue: 'default',
        kind: 'legacy.export',
      }) ?? 0) >= 5,
    );
    assert.equal(sample(text, 'herald_jobs_paused', { queue: 'default', kind: 'reminder' }), 1);
    const tick = Number(/^herald_scheduler_last_tick_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
    assert.ok(Math.abs(tick - Date.now() / 1000) < 60, `the scheduler ticked recently (${tick})`);
  });

  it('the Grafana dashboard queries only series Herald serves', () => {
    const series = seriesOf(text);
    const exprs = dashboardExprs(readFileSync('ops/grafana/herald.json', 'utf8'));
    assert.ok(exprs.length >= 10, `${exprs.length} queries`);
    for (const { panel, expr } of exprs)
      assert.deepEqual(problemsOf(expr, series), [], `panel "${panel}": ${expr}`);
  });

  it('the alert rules query only series Herald serves', () => {
    const series = seriesOf(text);
    const exprs = ruleExprsOf(readFileSync('ops/prometheus/alerts.yml', 'utf8'));
    assert.ok(exprs.length >= 6, `${exprs.length} rules`);
    for (const expr of exprs) assert.deepEqual(problemsOf(expr, series), [], expr);
  });
});
