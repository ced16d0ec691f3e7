/**
 * A `herald start` process on PostgreSQL under a storm of terminated backends: its database
 * connections are killed with pg_terminate_backend again and again (found by the
 * application_name in its DATABASE_URL) while triggers, admin calls and worker claims run.
 * The process must never exit, and every notification whose trigger was accepted (202) must
 * reach `sent` on every channel. A lost database answers 503 `database_unreachable`, never an
 * exit and never a 500.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { dropSchema, freshSchema, PG_URL, pgClient, pgSkipReason, waitFor } from './helpers/db.js';
import { startHeraldServer, type HeraldServerProcess } from './helpers/processes.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const skip = await pgSkipReason();
const KEY = 'chaos-test-server-key-0123456789';
const ADMIN = 'chaos-test-admin-key-0123456789';

describe('a herald process while its backends are terminated', { skip }, () => {
  let client: pg.Client;
  let sink: SmtpSink;
  let herald: HeraldServerProcess | undefined;
  const schema = freshSchema('chaos');
  // Its own application_name, so the storm hits this process's connections and nobody else's.
  const appName = `herald_chaos_${randomBytes(4).toString('hex')}`;

  before(async () => {
    client = await pgClient();
    sink = await startSmtpSink();
  });
  after(async () => {
    if (herald && herald.child.exitCode === null) herald.child.kill('SIGKILL');
    await sink.close();
    await client.end();
    await dropSchema(schema);
  });

  it('never exits, and delivers every accepted notification', async (t) => {
    const url = new URL(PG_URL);
    url.searchParams.set('application_name', appName);
    herald = await startHeraldServer({
      DATABASE_URL: url.toString(),
      HERALD_SCHEMA: schema,
      HERALD_API_KEY: KEY,
      HERALD_ADMIN_KEY: ADMIN,
      HERALD_SMTP_URL: sink.url,
      HERALD_POOL_SIZE: '6',
      HERALD_CONCURRENCY: '4',
      HERALD_LEASE_MS: '3000',
      HERALD_POLL_INTERVAL_MS: '100',
      HERALD_LISTEN_CHECK_MS: '500',
      HERALD_SCHEDULER_INTERVAL_MS: '200',
      HERALD_BACKOFF_BASE_MS: '20',
      HERALD_BACKOFF_CAP_MS: '300',
      HERALD_DELIVERY_MAX_ATTEMPTS: '100',
    });
    const proc = herald;
    const api = (method: string, path: string, body?: unknown, key = KEY) =>
      fetch(proc.url + path, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).catch((err: unknown) => {
        // The usual cause: the process died. Say so, with what it printed.
        throw new Error(
          `${method} ${path} failed; herald exit code ${proc.child.exitCode}:\n${proc.stderr()}`,
          { cause: err },
        );
      });
    const put = await api('PUT', '/v1/types/chaos', {
      channels: ['inapp', 'email'],
      templates: {
        inapp: { title: 'Hello {{n}}', body: 'Number {{n}}' },
        email: { subject: 'Hello {{n}}', text: 'Number {{n}}' },
      },
    });
    assert.equal(put.status, 201, await put.text());
    const RECIPIENTS = 10;
    for (let i = 0; i < RECIPIENTS; i++) {
      const res = await api('PUT', `/v1/recipients/r${i}`, { email: `r${i}@example.com` });
      assert.equal(res.status, 201, await res.text());
    }

    // The storm: every 200-500 ms, terminate every backend of this process.
    let storming = true;
    let terminated = 0;
    const storm = (async () => {
      while (storming) {
        const { rows } = await client.query<{ ok: boolean }>(
          `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
            WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [appName],
        );
        terminated += rows.filter((r) => r.ok).length;
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 300));
      }
    })();

    const accepted: string[] = [];
    const answers = new Map<number, number>();
    const count = (status: number) => answers.set(status, (answers.get(status) ?? 0) + 1);
    const ROUNDS = 30;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        assert.equal(proc.child.exitCode, null, `herald exited:\n${proc.stderr()}`);
        const calls: Promise<void>[] = [];
        for (let i = 0; i < 4; i++) {
          calls.push(
            (async () => {
              const res = await api('POST', '/v1/notifications', {
                type: 'chaos',
                to: `r${(round * 4 + i) % RECIPIENTS}`,
                data: { n: round * 4 + i },
              });
              count(res.status);
              if (res.status === 202) {
                const body = (await res.json()) as { notifications: { id: string }[] };
                accepted.push(...body.notifications.map((n) => n.id));
              } else {
                const problem = (await res.json()) as { code: string };
                // A lost database is a 503 that says so, never a 500.
                assert.equal(res.status, 503, JSON.stringify(problem));
                assert.equal(problem.code, 'database_unreachable');
                assert.ok(res.headers.get('retry-after'));
              }
            })(),
          );
        }
        for (const path of ['/v1/admin/deliveries?limit=5', '/v1/admin/jobs/status']) {
          calls.push(
            (async () => {
              const res = await api('GET', path, undefined, ADMIN);
              count(res.status);
              assert.ok([200, 503].includes(res.status), `${path}: ${res.status}`);
              await res.arrayBuffer();
            })(),
          );
        }
        await Promise.all(calls);
      }
    } finally {
      storming = false;
      await storm;
    }
    assert.equal(proc.child.exitCode, null, `herald exited:\n${proc.stderr()}`);
    assert.ok(terminated >= ROUNDS / 2, `only ${terminated} backends terminated`);
    t.diagnostic(
      `${terminated} backends terminated; answers ${JSON.stringify([...answers])}; ${accepted.length} accepted`,
    );
    assert.ok(accepted.length > 0, `no trigger accepted: ${JSON.stringify([...answers])}`);

    // Every accepted notification reaches sent on both channels; scale the wait to the work.
    const notSent = async () =>
      Number(
        (
          await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM "${schema}".deliveries
              WHERE notification_id = ANY($1::uuid[]) AND status <> 'sent'`,
            [accepted],
          )
        ).rows[0]!.n,
      );
    await waitFor(
      async () => (await notSent()) === 0,
      20_000 + accepted.length * 200,
      'every accepted notification sent',
    );
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${schema}".deliveries WHERE notification_id = ANY($1::uuid[])`,
      [accepted],
    );
    assert.equal(rows[0]!.n, accepted.length * 2);
    assert.equal(proc.child.exitCode, null, `herald exited:\n${proc.stderr()}`);
    assert.ok(!/unhandled|uncaught/i.test(proc.stderr()), proc.stderr());

    // And it still shuts down cleanly.
    const exit = new Promise<number | null>((resolve) => proc.child.on('exit', resolve));
    proc.child.kill('SIGTERM');
    // On failure, the log's last lines say why (process:shutdown-overran or -failed).
    assert.equal(
      await exit,
      0,
      `${proc.stderr()}\n${proc.stdout().split('\n').slice(-15).join('\n')}`,
    );
  });
});
