/**
 * The queue across processes, against the real PostgreSQL server: exactly-once draining by
 * two processes, kill -9 with leased jobs, connections cut (a restart) and black-holed,
 * a frozen event loop whose lease is taken over, graceful shutdown, and ten processes
 * installing the schema at once. Executions are counted from the handlers' own reports
 * (stdout of each process), not from the queue's table.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createHerald, type Herald } from '../src/index.js';
import { knownMigrations } from '../src/db/migrate.js';
import {
  dropSchema,
  freshSchema,
  PG_URL,
  pgClient,
  pgSkipReason,
  sleep,
  waitFor,
  waitForProgress,
} from './helpers/db.js';
import { ready, spawnWorker, type WorkerProcess } from './helpers/processes.js';
import { startPgProxy } from './helpers/proxy.js';

const skip = await pgSkipReason();

describe('queue across processes on PostgreSQL', { skip }, () => {
  let client: pg.Client;
  const schemas: string[] = [];
  const procs: WorkerProcess[] = [];

  before(async () => {
    client = await pgClient();
  });
  after(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await client.end();
    for (const s of schemas) await dropSchema(s);
  });

  /** A fresh schema with `count` jobs of kind 'job' and payload {n}. */
  async function seed(count: number, prefix: string): Promise<{ schema: string; herald: Herald }> {
    const schema = freshSchema(prefix);
    schemas.push(schema);
    const herald = await createHerald({ databaseUrl: PG_URL, schema, logLevel: 'warn' });
    await herald.queue.enqueueMany(
      Array.from({ length: count }, (_, n) => ({ kind: 'job', payload: { n } })),
    );
    return { schema, herald };
  }

  function worker(env: Record<string, string | number>): WorkerProcess {
    const w = spawnWorker({ DATABASE_URL: PG_URL, ...env });
    procs.push(w);
    return w;
  }

  const jobsLeft = async (schema: string) =>
    Number((await client.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`)).rows[0].n);

  function countRuns(...workers: WorkerProcess[]): Map<number, number> {
    const runs = new Map<number, number>();
    for (const w of workers) for (const n of w.done()) runs.set(n, (runs.get(n) ?? 0) + 1);
    return runs;
  }

  it('two processes × 16 handlers drain 5,000 jobs, each run exactly once', async () => {
    // Both workers are up before the jobs arrive, so both race for every claim from the start
    // (seeded first, one process could drain a small queue before the other had started).
    const { schema, herald } = await seed(0, 'nodouble');
    const a = worker({ HERALD_SCHEMA: schema, CONCURRENCY: 16 });
    const b = worker({ HERALD_SCHEMA: schema, CONCURRENCY: 16 });
    await Promise.all([ready(a), ready(b)]);
    await herald.queue.enqueueMany(
      Array.from({ length: 5_000 }, (_, n) => ({ kind: 'job', payload: { n } })),
    );
    await herald.close();
    await waitForProgress(
      async () => (await jobsLeft(schema)) === 0,
      () => a.done().length + b.done().length,
      20_000,
      'the queue to drain',
    );
    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    assert.equal((await a.exit).code, 0);
    assert.equal((await b.exit).code, 0);
    const runs = countRuns(a, b);
    assert.equal(runs.size, 5_000, 'every job ran');
    const twice = [...runs].filter(([, c]) => c > 1);
    assert.deepEqual(twice, [], 'no job ran twice');
    assert.ok(
      a.done().length > 250 && b.done().length > 250,
      `both shared the work: ${a.done().length} / ${b.done().length}`,
    );
  });

  it('kill -9 of a worker holding 100 leased jobs loses none: they run again after the lease, and only they', async () => {
    const { schema, herald } = await seed(300, 'kill');
    await herald.close();
    const lease = { LEASE_MS: 2_000, RECLAIM_MS: 250 };
    const victim = worker({
      HERALD_SCHEMA: schema,
      MODE: 'hang',
      CONCURRENCY: 100,
      PREFETCH: 0,
      ...lease,
    });
    await waitFor(() => victim.started().length === 100, 20_000, 'the victim to hold 100 jobs');
    const held = new Set(victim.started());
    const b = worker({ HERALD_SCHEMA: schema, CONCURRENCY: 10, MODE: 'sleep:5', ...lease });
    const c = worker({ HERALD_SCHEMA: schema, CONCURRENCY: 10, MODE: 'sleep:5', ...lease });
    await waitFor(() => b.done().length + c.done().length === 200, 30_000, 'the 200 free jobs');
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exit;
    // Only the lease's expiry can bring them back (nothing else reclaims a leased job); how
    // soon after it depends on the machine, so the wait is generous and the time printed.
    await waitFor(
      async () => (await jobsLeft(schema)) === 0,
      60_000,
      "the victim's jobs to complete",
    );
    process.stderr.write(
      `  kill -9: 100 leased jobs done ${Date.now() - killedAt} ms after the kill (lease 2 s)\n`,
    );
    const runs = countRuns(b, c);
    assert.equal(runs.size, 300, 'no job lost');
    assert.ok(
      [...runs.values()].every((n) => n === 1),
      'the survivors ran each job once',
    );
    // Only the victim's 100 were attempted twice.
    const second = [...b.lines, ...c.lines]
      .filter((l) => l.startsWith('DONE ') && l.endsWith(' 2'))
      .map((l) => Number(l.split(' ')[1]));
    assert.deepEqual(new Set(second), held);
    assert.equal(second.length, 100);
    b.child.kill('SIGTERM');
    c.child.kill('SIGTERM');
    assert.equal((await b.exit).code, 0);
    assert.equal((await c.exit).code, 0);
  });

  it('connections cut and refused mid-drain (a restart): no process exits, no job lost, work resumes by itself', async () => {
    const { schema, herald } = await seed(4_000, 'restart');
    await herald.close();
    const proxy = await startPgProxy(PG_URL);
    try {
      const env = {
        DATABASE_URL: proxy.url,
        HERALD_SCHEMA: schema,
        CONCURRENCY: 8,
        MODE: 'sleep:1',
        LEASE_MS: 10_000,
        QUERY_TIMEOUT_MS: 3_000,
        LISTEN_CHECK_MS: 1_000,
      };
      const a = worker(env);
      const b = worker(env);
      await waitForProgress(
        () => a.done().length + b.done().length >= 1_000,
        () => a.done().length + b.done().length,
        20_000,
        '1,000 jobs done',
      );
      proxy.cut();
      proxy.refuse(true);
      await sleep(3_000);
      const doneAtRestart = a.done().length + b.done().length;
      proxy.refuse(false);
      const restartedAt = Date.now();
      // Back by itself: the workers reconnect with no help (how soon is printed, not bounded:
      // a busy machine reconnects later, not wrongly).
      await waitFor(
        () => a.done().length + b.done().length > doneAtRestart + 100,
        60_000,
        'throughput to come back',
      );
      const resumedIn = Date.now() - restartedAt;
      await waitForProgress(
        async () => (await jobsLeft(schema)) === 0,
        () => a.done().length + b.done().length,
        20_000,
        'the rest of the drain',
      );
      assert.equal(a.child.exitCode, null, 'worker a still running');
      assert.equal(b.child.exitCode, null, 'worker b still running');
      const runs = countRuns(a, b);
      assert.equal(runs.size, 4_000, 'no job lost');
      const dup = [...runs.values()].filter((n) => n > 1).length;
      process.stderr.write(
        `  restart: resumed in ${resumedIn} ms; ${dup} jobs ran twice (at-least-once)\n`,
      );
      for (const w of [a, b]) {
        w.child.kill('SIGTERM');
        assert.equal((await w.exit).code, 0, w.stderr.join(''));
      }
    } finally {
      await proxy.close();
    }
  });

  it('a black-holed LISTEN connection is noticed and replaced; jobs still start', async () => {
    const { schema, herald } = await seed(0, 'listen');
    const proxy = await startPgProxy(PG_URL);
    try {
      // A 60 s poll: only a working (or re-established) LISTEN starts a job well before it, so
      // each wait below is half the poll, whatever the machine's speed.
      const w = worker({
        DATABASE_URL: proxy.url,
        HERALD_SCHEMA: schema,
        POLL_MS: 60_000,
        LISTEN_CHECK_MS: 1_000,
        LOG_LEVEL: 'info',
      });
      await ready(w);
      const beforePoll = 30_000;
      let t = Date.now();
      await herald.queue.enqueue({ kind: 'job', payload: { n: 1 } });
      await waitFor(() => w.done().includes(1), beforePoll, 'job 1 (LISTEN working)');
      await sleep(300); // let the claim that follows a completion finish first
      proxy.blackhole('listen');
      t = Date.now();
      await herald.queue.enqueue({ kind: 'job', payload: { n: 2 } });
      await waitFor(
        () => w.done().includes(2),
        beforePoll,
        'job 2, enqueued while LISTEN was black-holed',
      );
      const recovered = Date.now() - t;
      assert.ok(
        w.lines.some((l) => l.includes('db:listen-lost')),
        'the loss was noticed',
      );
      assert.ok(
        w.lines.some((l) => l.includes('db:listen-reconnected')),
        'and LISTEN re-established',
      );
      t = Date.now();
      await herald.queue.enqueue({ kind: 'job', payload: { n: 3 } });
      await waitFor(() => w.done().includes(3), beforePoll, 'job 3 (new LISTEN working)');
      process.stderr.write(
        `  listen-drop: job enqueued during the black hole started after ${recovered} ms; next job ${Date.now() - t} ms\n`,
      );
      w.child.kill('SIGTERM');
      assert.equal((await w.exit).code, 0);
    } finally {
      await herald.close();
      await proxy.close();
    }
  });

  it('a handler frozen past its lease cannot record its stale result; the new attempt owns the job', async () => {
    const { schema, herald } = await seed(1, 'fence');
    try {
      // A 3 s lease (not 1 s): B's heartbeats must keep its lease through the stalls of a busy
      // machine, or a reclaim makes a third attempt. A's freeze outlasts the lease well, and
      // B's handler outlasts A's freeze, so B still holds the job when A's result is refused.
      const lease = { LEASE_MS: 3_000, RECLAIM_MS: 100 };
      const a = worker({ HERALD_SCHEMA: schema, MODE: 'freeze:7000', CONCURRENCY: 1, ...lease });
      const jobs = `"${schema}".jobs`;
      // A's event loop is frozen as soon as it claims, so watch the table, not its output.
      await waitFor(
        async () =>
          (await client.query(`SELECT 1 FROM ${jobs} WHERE attempts = 1 AND status = 'processing'`))
            .rowCount,
        20_000,
        'A to claim',
      );
      const b = worker({ HERALD_SCHEMA: schema, MODE: 'sleep:12000', CONCURRENCY: 1, ...lease });
      await waitFor(() => a.has('STALE'), 15_000, 'A to report a refused (stale) completion');
      // B may claim before its READY line (with its id) has been read.
      const bId = await waitFor(() => b.workerId(), 10_000, "B's id");
      const row = (await client.query(`SELECT attempts, status, locked_by FROM ${jobs}`)).rows[0];
      assert.equal(row.attempts, 2, 'the new attempt');
      assert.equal(row.status, 'processing');
      assert.equal(row.locked_by, bId);
      assert.deepEqual(a.done(), [0], "A's handler did finish");
      await waitFor(async () => (await jobsLeft(schema)) === 0, 30_000, 'B to complete');
      assert.deepEqual(b.done(), [0]);
      for (const w of [a, b]) {
        w.child.kill('SIGTERM');
        assert.equal((await w.exit).code, 0);
      }
    } finally {
      await herald.close();
    }
  });

  it('SIGTERM: no new claims, the 50 running jobs finish, the rest go back untouched, exit 0', async () => {
    const { schema, herald } = await seed(200, 'shutdown');
    try {
      const w = worker({
        HERALD_SCHEMA: schema,
        MODE: 'sleep:2000',
        CONCURRENCY: 50,
        GRACE_MS: 60_000,
      });
      await waitFor(() => w.started().length === 50, 20_000, '50 jobs running');
      const t = Date.now();
      w.child.kill('SIGTERM');
      const { code } = await w.exit;
      assert.equal(code, 0);
      assert.ok(Date.now() - t < 60_000, 'within the grace period (not cut off by it)');
      assert.equal(w.started().length, 50, 'no new claims');
      assert.deepEqual(new Set(w.done()), new Set(w.started()), 'the running jobs finished');
      const rows = (
        await client.query(
          `SELECT status, attempts, count(*)::int AS n FROM "${schema}".jobs GROUP BY 1, 2`,
        )
      ).rows;
      assert.deepEqual(
        rows,
        [{ status: 'queued', attempts: 0, n: 150 }],
        'nothing stuck in processing; unstarted attempts not counted',
      );
    } finally {
      await herald.close();
    }
  });

  it('ten processes started at once on an empty database install the schema once and all run', async () => {
    const schema = freshSchema('migrate');
    schemas.push(schema);
    const bin = new URL('../bin/herald.js', import.meta.url).pathname;
    const children = Array.from({ length: 10 }, () => {
      const child = spawn(
        process.execPath,
        [bin, 'worker', '--database-url', PG_URL, '--schema', schema],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exit = new Promise<number | null>((resolve) =>
        child.on('exit', (code) => resolve(code)),
      );
      return { child, exit, out: () => out };
    });
    try {
      await waitFor(
        () =>
          children.every((c) => c.out().includes('herald:started') || c.child.exitCode !== null),
        60_000,
        'all 10 to start',
      );
      const failed = children.filter((c) => !c.out().includes('herald:started'));
      assert.deepEqual(
        failed.map((c) => c.out()),
        [],
        'every process started',
      );
      const migrated = children.filter((c) => c.out().includes('db:migrated'));
      assert.equal(migrated.length, 1, 'exactly one process installed the schema');
      const { rows } = await client.query(`SELECT id FROM "${schema}".migrations ORDER BY id`);
      assert.deepEqual(
        rows.map((r: { id: number }) => r.id),
        knownMigrations().map((m) => m.id),
      );
      for (const c of children) c.child.kill('SIGTERM');
      const codes = await Promise.all(children.map((c) => c.exit));
      assert.deepEqual(codes, Array(10).fill(0));
    } finally {
      for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    }
  });
});
