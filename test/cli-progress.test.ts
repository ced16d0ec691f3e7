/**
 * Progress of long CLI work: the line itself and its redraws (at most ten a second, with a fake
 * clock), then `herald jobs replay --all` and `herald recipients import` on a real terminal
 * (a pseudo-terminal from `script`, or HERALD_PROGRESS=always where there is none) and piped:
 * an updating line on the terminal, nothing but the summary when piped. The replay goes in
 * batches of 1,000 and brings back what one statement did: one job per key, none whose key is
 * live again.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { makeProgress, progressLine } from '../src/cli/progress.js';
import { closeHerald, openHerald, pgSkipReason, PG_URL } from './helpers/db.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const pgSkip = await pgSkipReason();
const hasScript = spawnSync('sh', ['-c', 'command -v script']).status === 0;

/** The terminal's "clear to the end of the line" as `<CLEAR>`, and a carriage return as `<CR>`. */
const visible = (text: string) => text.replaceAll('\x1b[K', '<CLEAR>').replaceAll('\r', '<CR>');

/** A stand-in for stderr that keeps what is written: a terminal of 60 columns, or not. */
function screen(isTTY: boolean) {
  let text = '';
  const stream = {
    isTTY,
    columns: 60,
    write: (chunk: string) => {
      text += chunk;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

describe('the progress line', () => {
  it('says the count, the percent, the rate and the time left', () => {
    assert.equal(
      progressLine({ doing: 'importing', what: 'recipients', done: 1200, elapsedMs: 100 }),
      'importing recipients: 1,200',
    );
    assert.equal(
      progressLine({
        doing: 'replaying',
        what: 'jobs',
        done: 1500,
        total: 6000,
        elapsedMs: 2000,
      }),
      'replaying jobs: 1,500  25%  750/s  6 s left',
    );
    assert.equal(
      progressLine({
        doing: 'importing',
        what: 'recipients',
        done: 10,
        fraction: 0.5,
        elapsedMs: 90_000,
      }),
      'importing recipients: 10  50%  0/s  1 min 30 s left',
    );
  });

  it('is redrawn at most every 100 ms, cut to the terminal, and cleared at the end', () => {
    let now = 0;
    const { stream, text } = screen(true);
    const progress = makeProgress({
      doing: 'importing',
      what: 'recipients',
      total: 1_000,
      stream,
      env: {},
      now: () => now,
    });
    for (let i = 1; i <= 1_000; i++) {
      now = i; // a thousand updates in a second: ten redraws
      progress.update(i);
    }
    now = 1_100;
    progress.note('herald: line 7: email: Invalid email address');
    progress.end();
    const frames = text()
      .split('\r')
      .filter((f) => f.startsWith('importing'));
    assert.equal(frames.length, 11, text());
    assert.equal(frames[0], 'importing recipients: 1  0%\x1b[K');
    assert.ok(frames.every((f) => f.length <= 59 + 3));
    // The note is a line of its own, and the end leaves the cursor at the start of a clean line.
    assert.ok(text().includes('\r\x1b[Kherald: line 7: email: Invalid email address\n'));
    assert.ok(text().endsWith('\r\x1b[K'));
  });

  it('draws nothing when stderr is not a terminal, or HERALD_PROGRESS=never', () => {
    for (const [isTTY, env] of [
      [false, {}],
      [true, { HERALD_PROGRESS: 'never' }],
    ] as const) {
      const { stream, text } = screen(isTTY);
      const progress = makeProgress({ doing: 'replaying', what: 'jobs', stream, env });
      progress.update(5);
      progress.note('a note');
      progress.end();
      assert.equal(text(), 'a note\n');
    }
    const { stream, text } = screen(false);
    makeProgress({ doing: 'a', what: 'b', stream, env: { HERALD_PROGRESS: 'always' } }).update(1);
    assert.equal(text(), '\ra b: 1\x1b[K');
  });
});

describe('progress of herald commands', { skip: pgSkip }, () => {
  let h: Herald;
  let dir: string;
  const db = () => ['--database-url', PG_URL, '--schema', h.config.schema];
  const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

  /**
   * The command with stdout and stderr on a terminal: a pseudo-terminal made by `script`, or
   * where there is none, pipes with HERALD_PROGRESS=always. What the terminal showed.
   */
  function onTerminal(args: string[]): { code: number | null; screen: string } {
    if (hasScript) {
      const cmd = [process.execPath, BIN, ...args].map(quote).join(' ');
      const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, HERALD_PROGRESS: '' },
      });
      return { code: r.status, screen: visible(r.stdout.replaceAll('\r\n', '\n')) };
    }
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, HERALD_PROGRESS: 'always' },
    });
    return { code: r.status, screen: visible(r.stderr + r.stdout) };
  }

  function piped(args: string[]) {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, HERALD_PROGRESS: '' },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  }

  before(async () => {
    h = await openHerald('pg');
    dir = mkdtempSync(join(tmpdir(), 'herald-progress-'));
  });
  after(async () => {
    await closeHerald(h);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Dead jobs: `n` unkeyed; two sharing key `twin`; one whose key `busy` is live again. */
  async function deadJobs(n: number): Promise<{ twinNewest: string }> {
    const s = `"${h.config.schema}"`;
    const kill = (ids: string[], ago: string) =>
      h.db.query(
        `UPDATE ${s}.jobs SET status = 'dead', updated_at = now() - $2::interval WHERE id = ANY($1::bigint[])`,
        [ids, ago],
      );
    const many = await h.queue.enqueueMany(
      Array.from({ length: n }, () => ({ kind: 'nobody.handles' })),
    );
    await kill(
      many.map((e) => e.job.id),
      '1 minute',
    );
    const older = await h.queue.enqueue({ kind: 'nobody.handles', key: 'twin' });
    await kill([older.job.id], '2 minutes');
    const newer = await h.queue.enqueue({ kind: 'nobody.handles', key: 'twin' });
    await kill([newer.job.id], '1 minute');
    const busy = await h.queue.enqueue({ kind: 'nobody.handles', key: 'busy' });
    await kill([busy.job.id], '1 minute');
    await h.queue.enqueue({ kind: 'nobody.handles', key: 'busy' });
    return { twinNewest: newer.job.id };
  }

  const deadCount = async () =>
    (
      await h.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM "${h.config.schema}".jobs WHERE status = 'dead'`,
      )
    ).rows[0]?.n;

  it('jobs replay --all: batches of 1,000, progress on a terminal, the same jobs back', async () => {
    const { twinNewest } = await deadJobs(2_500);
    const r = onTerminal(['jobs', 'replay', '--all', ...db()]);
    assert.equal(r.code, 0, r.screen);
    assert.match(r.screen, /<CR>replaying jobs: 0 {2}0%<CLEAR>/);
    // The summary starts a clean line (the progress line is cleared first, if it is shown).
    assert.match(r.screen, /(\n|<CR><CLEAR>)replayed 2501 jobs\n$/);
    // One of the twins (the newest) and none of `busy`, as a single statement did.
    assert.equal(await deadCount(), 2);
    assert.equal((await h.queue.get(twinNewest))?.status, 'queued');

    await h.db.query(`DELETE FROM "${h.config.schema}".jobs`);
    await deadJobs(1_200);
    const quiet = piped(['jobs', 'replay', '--all', ...db()]);
    assert.equal(quiet.code, 0, quiet.err);
    assert.equal(quiet.out, 'replayed 1201 jobs\n');
    const url = new URL(PG_URL);
    assert.equal(
      quiet.err,
      `herald: using PostgreSQL at ${url.hostname}:${url.port || '5432'}${url.pathname}\n`,
    );
    assert.equal(await deadCount(), 2);

    // One statement per 1,000: the library says so after each.
    await h.db.query(`DELETE FROM "${h.config.schema}".jobs`);
    await deadJobs(1_200);
    const batches: number[] = [];
    const replayed = await h.queue.replay('all', { onBatch: (n) => batches.push(n) });
    assert.deepEqual(batches, [1_000, 1_201]);
    assert.equal(new Set(replayed).size, 1_201);
  });

  it('recipients import: progress on a terminal, bad lines above it; piped, only the summary', () => {
    const file = join(dir, 'people.csv');
    const rows = ['id,email'];
    for (let i = 0; i < 3_000; i++)
      rows.push(i === 1_500 ? 'x,not-an-email' : `p${i},p${i}@example.com`);
    writeFileSync(file, rows.join('\n'));
    const r = onTerminal(['recipients', 'import', file, ...db()]);
    assert.equal(r.code, 1, r.screen);
    assert.match(r.screen, /<CR>importing recipients: [\d,]+ {2}\d+%/);
    assert.match(r.screen, /<CR><CLEAR>herald: line 1502: email: Invalid email address\n/);
    assert.match(r.screen, /(\n|<CR><CLEAR>)imported 2999, updated 0, failed 1\n$/);

    const quiet = piped(['recipients', 'import', file, ...db()]);
    assert.equal(quiet.code, 1);
    assert.equal(quiet.out, 'imported 0, updated 2999, failed 1\n');
    assert.doesNotMatch(visible(quiet.err), /importing|<CR>/);
    assert.match(quiet.err, /^herald: line 1502: email: Invalid email address$/m);
  });
});
