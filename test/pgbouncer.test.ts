/**
 * Herald behind a real PgBouncer in transaction pooling mode (issue 13), started here with
 * three server connections for every client: two Herald instances send through it while
 * their LISTEN and migration lock go straight to PostgreSQL (HERALD_DIRECT_DATABASE_URL).
 *
 * - Both instances migrate one fresh schema at once (the session advisory lock, direct).
 * - 60 notifications, each in-app and email to a real SMTP sink, triggered from both at once
 *   and worked by both: every delivery sent, every email received exactly once.
 * - With a 60 s poll interval, a job enqueued on one instance starts on the idle workers
 *   within seconds: the LISTEN wake-up arrived, so it is on a connection of its own.
 * - A cron schedule ticks, once per tick; an inbox wake-up (realtime/signal.ts) sent by one
 *   instance reaches the other.
 * - PgBouncer really shared its three server connections among more clients.
 * - Why the direct URL: a LISTEN made through the bouncer hears nothing (PgBouncer drops a
 *   notification that arrives for a server connection no client holds, and says so), and
 *   Herald's LISTEN check says what to set when it sees its session change under it.
 *
 * Skipped with one line where /usr/sbin/pgbouncer is missing (apt-get install pgbouncer);
 * under CI that fails instead.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { openDb } from '../src/db/open.js';
import { builtinHandlers } from '../src/handlers.js';
import type { Herald } from '../src/index.js';
import { makeLogger } from '../src/obs/log.js';
import { makeSignal, type Wake } from '../src/realtime/signal.js';
import { inboxChannel } from '../src/db/migrate.js';
import {
  closeHerald,
  dropSchema,
  freshSchema,
  openHerald,
  PG_URL,
  pgClient,
  pgSkipReason,
  waitFor,
} from './helpers/db.js';
import { startSmtpSink, type SmtpSink } from './helpers/smtp-sink.js';

const PGBOUNCER = process.env.HERALD_PGBOUNCER ?? '/usr/sbin/pgbouncer';
const POOL = 3;
const N = 60;

function bouncerSkip(): string | undefined {
  if (existsSync(PGBOUNCER)) return undefined;
  const why = `PgBouncer tests skipped: ${PGBOUNCER} not found (apt-get install pgbouncer)`;
  if (process.env.CI) throw new Error(`${why} — under CI they must run`);
  process.stderr.write(why + '\n');
  return why;
}
const skip = (await pgSkipReason()) ?? bouncerSkip();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Bouncer {
  url: string;
  /** The database name it serves (the test database's). */
  database: string;
  /** Its log (stderr) so far. */
  log(): string;
  /** SHOW <what> on its admin console. */
  show(what: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** A PgBouncer in transaction mode in front of the test database, on a free port. */
async function startBouncer(): Promise<Bouncer> {
  const target = new URL(PG_URL);
  const database = target.pathname.slice(1);
  const user = decodeURIComponent(target.username || 'postgres');
  const dir = mkdtempSync(join(tmpdir(), 'herald-pgbouncer-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${target.hostname} port=${target.port || 5432} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      // The development server trusts local connections; the bouncer passes the user on.
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `admin_users = ${user}`,
      'pool_mode = transaction',
      `default_pool_size = ${POOL}`,
      'max_client_conn = 500',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`);
  // PgBouncer refuses to run as root: it is then told to drop to nobody, who must read these.
  chmodSync(dir, 0o755);
  const asRoot = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child: ChildProcess = spawn(PGBOUNCER, [...asRoot, join(dir, 'pgbouncer.ini')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  await waitFor(
    () => log.includes('process up') || child.exitCode !== null,
    10_000,
    'pgbouncer to start',
  );
  if (child.exitCode !== null) throw new Error(`pgbouncer exited: ${log}`);
  const at = `${encodeURIComponent(user)}@127.0.0.1:${port}`;
  return {
    url: `postgres://${at}/${database}`,
    database,
    log: () => log,
    async show(what) {
      const admin = new pg.Client({ connectionString: `postgres://${at}/pgbouncer` });
      await admin.connect();
      try {
        // The admin console speaks only the simple protocol: no parameters.
        return (await admin.query<Record<string, unknown>>(`SHOW ${what}`)).rows;
      } finally {
        await admin.end();
      }
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A logger whose lines are kept, to look for a message in. */
function keptLog(): { log: ReturnType<typeof makeLogger>; text(): string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: makeLogger('warn', sink), text: () => text };
}

describe('behind PgBouncer in transaction mode', { skip }, () => {
  let bouncer: Bouncer;
  let sink: SmtpSink;
  let direct: pg.Client;
  const heralds: Herald[] = [];

  before(async () => {
    bouncer = await startBouncer();
    sink = await startSmtpSink();
    direct = await pgClient();
  });
  after(async () => {
    for (const h of heralds) await h.close().catch(() => undefined);
    if (heralds[0]) await dropSchema(heralds[0].config.schema);
    await direct?.end();
    await sink?.close();
    await bouncer?.stop();
  });

  it('without a direct URL, a LISTEN through the bouncer hears nothing, and Herald says so', async () => {
    // What Herald did before HERALD_DIRECT_DATABASE_URL: LISTEN over DATABASE_URL. No check
    // runs meanwhile (it would briefly hold a server connection, which might be that one).
    const quiet = await openDb({
      databaseUrl: bouncer.url,
      preparedStatements: false,
      listenCheckMs: 60_000,
      log: makeLogger('silent'),
    });
    try {
      const heard: string[] = [];
      await quiet.listen('herald_bouncer_probe', { onNotify: (p) => heard.push(p) });
      // The LISTEN ran on a server connection that went back to the pool when its
      // transaction ended; a notification for it arrives with no client to give it to.
      const dropped = () =>
        bouncer.log().split("got packet 'A' from server when not linked").length;
      const before = dropped();
      await direct.query(`NOTIFY herald_bouncer_probe, 'wake'`);
      await waitFor(() => dropped() > before, 10_000, 'pgbouncer to drop the notification');
      assert.deepEqual(heard, []);
    } finally {
      await quiet.close();
    }

    // The LISTEN check (every 200 ms) sees its session change when another client holds the
    // server connection it used last (PgBouncer hands out the most recently freed one), and
    // names the setting that fixes it.
    const kept = keptLog();
    const checked = await openDb({
      databaseUrl: bouncer.url,
      preparedStatements: false,
      listenCheckMs: 200,
      log: kept.log,
    });
    const other = new pg.Client({ connectionString: bouncer.url });
    await other.connect();
    try {
      await checked.listen('herald_bouncer_probe', { onNotify: () => undefined });
      await waitFor(
        async () => {
          if (kept.text().includes('db:listen-behind-pooler')) return true;
          // A round: hold one server connection across the next check, then let it go.
          await other.query('BEGIN');
          await other.query('SELECT 1');
          await waitFor(
            () => kept.text().includes('db:listen-behind-pooler') || null,
            500,
            'a check',
          ).catch(() => undefined);
          await other.query('COMMIT');
          return kept.text().includes('db:listen-behind-pooler');
        },
        15_000,
        'the LISTEN check to see its session change',
      );
      assert.match(kept.text(), /HERALD_DIRECT_DATABASE_URL/);
    } finally {
      await other.end();
      await checked.close();
    }
  });

  it('migrates, sends every notification once, wakes on LISTEN, ticks cron, fans out', async () => {
    const schema = freshSchema('bouncer');
    const settings = {
      databaseUrl: bouncer.url,
      directDatabaseUrl: PG_URL,
      schema,
      logLevel: 'silent' as const,
      poolSize: 6,
      smtpUrl: sink.url,
      emailFrom: 'Herald <no-reply@herald.test>',
    };
    // Both at once on an empty schema: the migration lock is a session lock, on the direct
    // connection; through the bouncer it would be taken and released on any server session.
    heralds.push(...(await Promise.all([openHerald('pg', settings), openHerald('pg', settings)])));
    const [a, b] = heralds as [Herald, Herald];
    // A direct URL means a pooler: named prepared statements are off unless asked for.
    assert.equal(a.config.preparedStatements, false);

    await a.types.put('hello', {
      channels: ['inapp', 'email'],
      templates: {
        inapp: { title: 'Hi {{recipient.id}}', body: 'n={{n}}' },
        email: { subject: 'Hello {{recipient.id}}', text: 'n={{n}}' },
      },
    });
    await a.types.put('tick', {
      channels: ['inapp'],
      templates: { inapp: { title: 'tick', body: 'tick' } },
    });
    await a.recipients.upsert('ops', {});
    for (let i = 0; i < N; i++)
      await (i % 2 ? a : b).recipients.upsert(`r${i}`, { email: `r${i}@example.com` });

    // A poll interval far past the test: the workers find new work through LISTEN only.
    const workers = heralds.map((h) =>
      h.worker({ handlers: builtinHandlers(h), pollIntervalMs: 60_000, concurrency: 8 }),
    );
    for (const w of workers) await w.start();

    // Triggered from both instances at once, while both work: transactions interleave on
    // three shared server connections.
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        (i % 2 ? a : b).send({ type: 'hello', to: `r${i}`, data: { n: i } }),
      ),
    );
    const mails = await sink.waitForMessages(N, 20_000);
    const count = async (sql: string) =>
      Number((await direct.query<{ n: string }>(sql)).rows[0]?.n ?? 0);
    await waitFor(
      async () =>
        (await count(`SELECT count(*) AS n FROM "${schema}".deliveries WHERE status = 'sent'`)) ===
        2 * N,
      20_000,
      'every delivery sent',
    );
    const to = mails.flatMap((m) => m.envelope.rcptTo).sort();
    assert.deepEqual(to, Array.from({ length: N }, (_, i) => `r${i}@example.com`).sort());
    assert.equal(
      await count(`SELECT count(*) AS n FROM "${schema}".deliveries WHERE status <> 'sent'`),
      0,
    );

    // Idle workers, a long poll: a new job starts on a LISTEN wake-up or not at all.
    const t0 = Date.now();
    await a.send({ type: 'hello', to: 'r0', data: { n: 'late' } });
    await sink.waitForMessages(N + 1, 10_000);
    const wokeInMs = Date.now() - t0;
    assert.ok(wokeInMs < 10_000, `started in ${wokeInMs} ms`);

    // A cron schedule every second, with a scheduler on each instance: each tick once.
    await a.schedules.put('every-second', {
      cron: '* * * * * *',
      task: 'notify',
      catchUp: 'latest',
      payload: { type: 'tick', to: 'ops' },
    });
    // Only this schedule's runs are counted.
    const tick = `schedule = 'every-second'`;
    const schedulers = heralds.map((h) => h.scheduler({ intervalMs: 100 }));
    for (const s of schedulers) s.start();
    await waitFor(
      async () =>
        (await count(
          `SELECT count(*) AS n FROM "${schema}".job_runs WHERE ${tick} AND status = 'succeeded'`,
        )) >= 3,
      15_000,
      'three cron ticks run',
    );
    for (const s of schedulers) await s.stop();
    await waitFor(
      async () =>
        (await count(
          `SELECT count(*) AS n FROM "${schema}".job_runs WHERE ${tick} AND status <> 'succeeded'`,
        )) === 0,
      10_000,
      'the last tick to finish',
    );
    const runs = await count(`SELECT count(*) AS n FROM "${schema}".job_runs WHERE ${tick}`);
    assert.equal(
      await count(`SELECT count(DISTINCT tick) AS n FROM "${schema}".job_runs WHERE ${tick}`),
      runs,
      'one run per tick',
    );
    assert.equal(
      await count(`SELECT count(*) AS n FROM "${schema}".notifications WHERE type = 'tick'`),
      runs,
      'one notification per run',
    );

    // The inbox wake-up between processes: NOTIFY through the bouncer, LISTEN direct.
    const woke: Wake[] = [];
    const signalOf = (h: Herald, onWake: (w: Wake) => void) =>
      makeSignal({
        db: h.db,
        channel: inboxChannel(schema),
        log: h.log,
        onWake,
        onReconnect: () => undefined,
      });
    const listening = signalOf(b, (w) => woke.push(w));
    const telling = signalOf(a, () => undefined);
    await listening.listen();
    telling.changed(['r7']);
    await waitFor(() => woke.length > 0, 10_000, 'the inbox wake-up on the other instance');
    assert.deepEqual(woke, [{ recipients: ['r7'] }]);
    await telling.close();
    await listening.close();

    // More clients than server connections, and PgBouncer never opened more than three.
    const ours = (row: Record<string, unknown>) => row.database === bouncer.database;
    const servers = (await bouncer.show('SERVERS')).filter(ours);
    const clients = (await bouncer.show('CLIENTS')).filter(ours);
    assert.ok(servers.length <= POOL, `${servers.length} server connections`);
    assert.ok(clients.length > POOL, `${clients.length} clients`);

    for (const w of workers) await w.stop();
    heralds.splice(0);
    await b.close();
    await closeHerald(a);
  });
});
