/**
 * The `herald` command as a user runs it (the compiled bin): help, one-line errors with a
 * non-zero exit, migrate, jobs status/dead/replay, refusing a newer schema, and `start`
 * serving /health and /ready on the embedded database, while every other command on its
 * folder is refused naming the HTTP call that does the same.
 */
import assert from 'node:assert/strict';
import { knownMigrations } from '../src/db/migrate.js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { createHerald, type Herald } from '../src/index.js';
import { program } from '../src/cli/main.js';
import type { Command } from 'commander';
import { dropSchema, freshSchema, PG_URL, pgSkipReason, waitFor } from './helpers/db.js';

const LATEST = knownMigrations().at(-1)?.id;

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const pgSkip = await pgSkipReason();

function herald(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: '' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** `herald start` on an embedded data folder; `started` resolves with its URL. */
function startOn(dir: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dir, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const started = waitFor(
    () => out.split('\n').find((l) => l.includes('herald:started')),
    60_000,
    'herald:started',
  ).then((line) => (JSON.parse(line) as { url: string }).url);
  return { child, exit, started, output: () => out };
}

describe('herald CLI', () => {
  it('every command has --help', () => {
    // Every command in the tree, read from the program itself (so a new command is covered),
    // in-process: a child process per command costs more than the rest of the check.
    const names: string[] = [];
    const walk = (cmd: Command, path: string[]) => {
      const help = cmd.helpInformation();
      assert.match(help, /^Usage: herald/, `herald ${path.join(' ')} --help`);
      assert.ok(cmd.description(), `herald ${path.join(' ')} says what it does`);
      names.push(path.join(' '));
      for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program(), []);
    for (const expected of ['start', 'api', 'worker', 'migrate', 'keys create', 'jobs status'])
      assert.ok(names.includes(expected), `${expected} is a command: ${names.join(', ')}`);
    // And through the compiled command as a user types it.
    for (const cmd of [[], ['jobs', 'replay']]) {
      const r = herald(...cmd, '--help');
      assert.equal(r.code, 0, `herald ${cmd.join(' ')} --help`);
      assert.match(r.out, /^Usage: herald/m);
    }
  });

  it('--version prints the one version the package, its lock file and the README agree on', () => {
    const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
    const pkg = JSON.parse(read('package.json')) as { version: string };
    const lock = JSON.parse(read('package-lock.json')) as {
      version: string;
      packages: Record<string, { version?: string }>;
    };
    assert.equal(pkg.version, '0.9.0');
    assert.equal(herald('--version').out.trim(), pkg.version);
    assert.equal(lock.version, pkg.version);
    assert.equal(lock.packages['']?.version, pkg.version);
    // The README's changelog starts with this version, and its docs list names every page.
    const readme = read('README.md');
    const changelog = readme.slice(readme.indexOf('## Changelog'));
    assert.match(changelog, new RegExp(`^- ${pkg.version.replaceAll('.', '\\.')}\\b`, 'm'));
    assert.equal(/^- (\d+\.\d+\.\d+)/m.exec(changelog)?.[1], pkg.version);
    for (const page of readdirSync(new URL('../docs/', import.meta.url)))
      assert.ok(readme.includes(`](docs/${page})`), `README lists docs/${page}`);
    // No page points outside the repository.
    for (const file of [
      'README.md',
      ...readdirSync(new URL('../docs/', import.meta.url)).map((f) => `docs/${f}`),
    ])
      assert.doesNotMatch(read(file), /\.\.\/shared\//, file);
  });

  it('a bad flag is a one-line error and a non-zero exit', () => {
    const r = herald('start', '--bogus');
    assert.notEqual(r.code, 0);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(r.err, /^herald: unknown option '--bogus'/);
  });

  it('a database that cannot be reached is a one-line error, not a stack trace', () => {
    const r = herald('migrate', '--database-url', 'postgres://postgres@127.0.0.1:1/nothing');
    assert.equal(r.code, 1);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.match(
      r.err,
      /^herald: cannot use PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/nothing: connection refused/,
    );
  });

  it('a bad setting names the setting and its variable', () => {
    const r = spawnSync(process.execPath, [BIN, 'migrate'], {
      encoding: 'utf8',
      env: { ...process.env, HERALD_PORT: 'eighty' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^herald: invalid configuration: port \(HERALD_PORT\)/);
  });

  describe('against PostgreSQL', { skip: pgSkip }, () => {
    const schema = freshSchema('cli');
    let h: Herald;
    before(async () => {
      h = await createHerald({ databaseUrl: PG_URL, schema, logLevel: 'warn' });
    });
    after(async () => {
      await h.close();
      await dropSchema(schema);
    });
    const db = ['--database-url', PG_URL, '--schema', schema];

    it('migrate reports an up-to-date schema', () => {
      const r = herald('migrate', ...db);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /is up to date \(migration \d+\)/);
    });

    it('commands say which PostgreSQL server they use, never its password', () => {
      const url = new URL(PG_URL);
      url.password = 'not-to-be-printed'; // the test server trusts local connections
      const where = `${url.hostname}:${url.port || '5432'}${url.pathname}`;
      for (const args of [['jobs', 'status'], ['migrate']]) {
        const r = herald(...args, '--database-url', url.toString(), '--schema', schema);
        assert.equal(r.code, 0, r.err);
        assert.equal(r.err, `herald: using PostgreSQL at ${where}\n`);
        assert.doesNotMatch(r.out + r.err, /not-to-be-printed/);
      }
    });

    it('jobs status shows counts, lag and a kind no worker handles', async () => {
      await h.queue.enqueueMany([
        { kind: 'orphan.kind' },
        { kind: 'orphan.kind' },
        { kind: 'later', delayMs: 3_600_000 },
      ]);
      const r = herald('jobs', 'status', ...db);
      assert.equal(r.code, 0, r.err);
      const orphan = r.out.split('\n').find((l) => l.includes('orphan.kind'));
      assert.match(
        orphan ?? '',
        /default\s+orphan\.kind\s+queued\s+2\s+\d+(\.\d+)? m?s\s+NONE handles this kind/,
      );
      const json = JSON.parse(herald('jobs', 'status', '--json', ...db).out) as {
        kind: string;
        count: number;
      }[];
      assert.equal(json.find((row) => row.kind === 'later')?.count, 1);
    });

    it('jobs dead lists dead jobs; replay brings one or all back', async () => {
      const worker = h.worker({
        queue: 'default',
        handlers: {
          doomed: () => {
            throw new Error('smtp said no');
          },
        },
      });
      await worker.start();
      const jobs = await h.queue.enqueueMany([
        { kind: 'doomed', maxAttempts: 1 },
        { kind: 'doomed', maxAttempts: 1 },
      ]);
      await waitFor(async () => (await h.queue.dead()).length === 2, 5_000, 'two dead jobs');
      await worker.stop();
      const listed = herald('jobs', 'dead', ...db);
      assert.equal(listed.code, 0, listed.err);
      assert.match(listed.out, /doomed\s+1\/1\s+\S+\s+Error: smtp said no/);
      const one = herald('jobs', 'replay', jobs[0]?.job.id ?? '', ...db);
      assert.equal(one.out.trim(), 'replayed 1 job');
      const again = herald('jobs', 'replay', jobs[0]?.job.id ?? '', ...db);
      assert.equal(again.code, 1);
      assert.match(again.err, /is not dead/);
      assert.equal(herald('jobs', 'replay', '--all', ...db).out.trim(), 'replayed 1 job');
      const neither = herald('jobs', 'replay', ...db);
      assert.equal(neither.code, 2);
      assert.match(neither.err, /give one job id, or --all/);
      assert.equal((await h.queue.dead()).length, 0);
    });

    it('keys create prints a key once; it works, and only its hash is stored', async () => {
      const r = herald('keys', 'create', '--admin', '--name', 'ops', ...db);
      assert.equal(r.code, 0, r.err);
      const key = r.out.trim();
      assert.match(key, /^hk_[0-9a-f]{8}_[A-Za-z0-9_-]{32}$/);
      assert.match(r.err, /admin key [0-9a-f]{8} created; it is shown only now/);
      assert.deepEqual(await h.keys.verify(key), {
        admin: true,
        readOnly: false,
        keyId: key.slice(3, 11),
      });
      const ro = herald('keys', 'create', '--read-only', ...db);
      assert.equal(ro.code, 0, ro.err);
      assert.match(ro.err, /read-only admin key [0-9a-f]{8} created/);
      assert.deepEqual(await h.keys.verify(ro.out.trim()), {
        admin: true,
        readOnly: true,
        keyId: ro.out.trim().slice(3, 11),
      });
      const stored = await h.db.query<{ hash: string }>(`SELECT hash FROM "${schema}".api_keys`);
      assert.ok(
        stored.rows.every((row) => !row.hash.includes(key.slice(12))),
        'no secret stored',
      );
    });

    it('start refuses a database migrated by a newer Herald', async () => {
      const other = freshSchema('newer');
      const h2 = await createHerald({ databaseUrl: PG_URL, schema: other, logLevel: 'warn' });
      await h2.db.query(
        `INSERT INTO "${other}".migrations (id, name) VALUES (9999, 'from_the_future')`,
      );
      await h2.close();
      try {
        const r = herald('start', '--database-url', PG_URL, '--schema', other, '--port', '0');
        assert.equal(r.code, 1);
        assert.match(
          r.err,
          /^herald: the database schema is at migration 9999 but this Herald knows only up to \d+/,
        );
      } finally {
        await dropSchema(other);
      }
    });
  });

  it('start runs on the embedded database and answers /health and /ready; SIGTERM exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-cli-'));
    // A real first start: no seed (the suite seeds the folders of other `herald` processes).
    const { child, exit, started, output } = startOn(dir, { HERALD_PGLITE_SEED: '' });
    try {
      const url = await started;
      // The first start says what it does while it is slow, and where it is ready, on stderr
      // for people and as JSON events on stdout.
      const said = output();
      assert.match(
        said,
        new RegExp(
          `^herald: using the embedded database in ${dir} \\(set DATABASE_URL to use PostgreSQL\\); creating it, which takes up to a minute the first time$`,
          'm',
        ),
      );
      assert.match(
        said,
        new RegExp(
          `^herald: migrating the database: ${LATEST} steps \\(from 0 to ${LATEST}\\)$`,
          'm',
        ),
      );
      assert.match(
        said,
        new RegExp(
          `^herald: ready at ${url} — API key in ${dir}/dev-api-key \\(API reference at ${url}/docs\\)$`,
          'm',
        ),
      );
      const events = said
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      assert.deepEqual(
        events.filter((m) =>
          ['db:opening', 'db:migrating', 'db:migrated', 'herald:started'].includes(m),
        ),
        ['db:opening', 'db:migrating', 'db:migrated', 'herald:started'],
      );
      const health = await fetch(`${url}/health`);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const ready = await fetch(`${url}/ready`);
      assert.equal(ready.status, 200);
      assert.deepEqual(await ready.json(), {
        status: 'ready',
        database: 'pglite',
        migration: LATEST,
      });
      // A second process on the same folder is refused with a clear message, naming the HTTP
      // call of the running server that does the same.
      const second = herald('migrate', '--data-dir', dir);
      assert.equal(second.code, 1);
      assert.match(second.err, /is in use by another Herald process/);
      assert.match(second.err, /GET \/ready answers with the migration it is at$/m);
      const refused = (args: string[], hint: RegExp) => {
        const r = herald(...args, '--data-dir', dir);
        assert.equal(r.code, 1, r.err);
        assert.match(r.err, /^herald: using the embedded database in /);
        assert.match(r.err, /is in use by another Herald process \(pid \d+\)/);
        assert.match(r.err, hint);
      };
      refused(
        ['send', 'welcome', 'ada'],
        /While it runs, its HTTP API does the same: POST \/v1\/notifications \(docs\/api\.md\)$/m,
      );
      refused(['jobs', 'status'], /its HTTP API does the same: GET \/v1\/admin\/jobs\/status /);
      refused(['jobs', 'dead'], /its HTTP API does the same: GET \/v1\/admin\/jobs\/dead /);
      refused(['jobs', 'replay', '--all'], /does the same: POST \/v1\/admin\/jobs\/replay /);
      refused(
        ['jobs', 'run', 'nightly'],
        /does the same: POST \/v1\/admin\/schedules\/nightly\/run /,
      );
      refused(['status'], /its HTTP API does the same: GET \/v1\/admin\/jobs\/status /);
      const people = join(dir, 'people.csv');
      writeFileSync(people, 'id,email\nada,ada@example.com\n');
      refused(
        ['recipients', 'import', people],
        /does the same: PUT \/v1\/recipients\/\{id\}, once per recipient /,
      );
      refused(['worker'], /it runs the API, the workers and the scheduler already: GET \/health/);
      child.kill('SIGTERM');
      assert.equal(await exit, 0);
      // Once it stopped, the commands run on the folder themselves: status shows no process.
      const status = herald('status', '--data-dir', dir);
      assert.equal(status.code, 0, status.err);
      assert.match(
        status.out,
        /^Processes\nnone recorded: no Herald process runs on this database$/m,
      );
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('demo sends a first notification and fires the four recipes; send queues one; start makes a dev key that the README curl calls use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-demo-'));
    const outbox = join(dir, 'outbox');
    try {
      const demo = herald('demo', '--data-dir', dir);
      assert.equal(demo.code, 0, demo.err);
      const eml = /written to (\S+\.eml)/.exec(demo.out)?.[1];
      assert.ok(eml && existsSync(eml), demo.out);
      assert.match(readFileSync(eml, 'utf8'), /^Subject: Welcome to Herald, Ada\r?$/m);
      assert.match(demo.out, /inapp: sent, in the inbox/);
      // Then each of the four recipes fires, with its email in the outbox and its inbox item.
      const subjects: Record<string, RegExp> = {
        daily_briefing: /^Your day, .+: 3 on the agenda$/,
        weekly_summary: /^Your week, .+ – .+: 12 done$/,
        achievement_nudge: /^7 days in a row!$/,
        due_date_reminder: /^Due in 1m: Quarterly report <draft>$/,
      };
      for (const [type, subject] of Object.entries(subjects)) {
        const block = new RegExp(
          `\\+[\\d.]+ s {2}${type} fired \\([^)]+\\): notification \\S+\\n((?: {10}.*\\n)+)`,
        ).exec(demo.out)?.[1];
        assert.ok(block, `${type} fired:\n${demo.out}`);
        const file = /email: sent, written to (\S+\.eml)/.exec(block)?.[1];
        assert.ok(file && existsSync(file), `${type}: its email\n${block}`);
        assert.match((await simpleParser(readFileSync(file))).subject ?? '', subject);
        assert.match(block, /inapp: sent, in the inbox\n {10}inbox item: "/);
      }
      assert.match(demo.out, /1d {2}skipped: its time had passed/);
      assert.match(demo.out, /sms: skipped \(no_provider/);
      assert.match(demo.out, /^Summary: 4 of 4 recipes delivered in [\d.]+ s/m);
      assert.match(demo.out, /^Simulated: /m);
      const emails = readdirSync(outbox).length;
      assert.equal(emails, 5, 'the welcome email and one per recipe');

      const sent = herald(
        'send',
        'demo-welcome',
        'demo-user',
        '--data',
        '{"name":"Lin"}',
        '--data-dir',
        dir,
      );
      assert.equal(sent.code, 0, sent.err);
      assert.match(sent.out, /^\S+ {2}demo-user {2}email queued, inapp queued$/m);
      const bad = herald('send', 'demo-welcome', 'nobody', '--data-dir', dir);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /^herald: no recipient "nobody"/m);

      const { child, exit, started, output } = startOn(dir, { HERALD_API_KEY: '' });
      try {
        const url = await started;
        const key = readFileSync(join(dir, 'dev-api-key'), 'utf8').trim();
        assert.ok(output().includes(key), 'the key is printed once at start');
        // The worker of `start` sends what `herald send` queued.
        await waitFor(() => readdirSync(outbox).length === emails + 1, 10_000, 'the queued email');
        const res = await fetch(`${url}/v1/notifications`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type: 'demo-welcome', to: 'demo-user', data: { name: 'Grace' } }),
        });
        assert.equal(res.status, 202);
        await waitFor(
          () => readdirSync(outbox).length === emails + 2,
          10_000,
          'the email sent through the API',
        );
        child.kill('SIGTERM');
        assert.equal(await exit, 0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
