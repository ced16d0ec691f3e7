/**
 * `herald demo` reports what really happened. Beside a running `herald start` on the same
 * PostgreSQL schema (whose worker and scheduler see the demo's jobs), every recipe is
 * delivered with the demo's content: its schedule runs go to a queue only the demo serves.
 * And a demo whose emails cannot be sent says which were not delivered and exits 1 (it
 * printed "4 of 4 recipes fired" and exited 0 on render errors).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dropSchema, freshSchema, PG_URL, pgSkipReason } from './helpers/db.js';
import { startHeraldWorker } from './helpers/processes.js';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
const pgSkip = await pgSkipReason();
const RECIPES = ['daily_briefing', 'weekly_summary', 'achievement_nudge', 'due_date_reminder'];

/** Runs `herald demo` to its end (not spawnSync: a server beside it must keep being read). */
function runDemo(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], {
    env: { ...process.env, DATABASE_URL: '', HERALD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })));
}

/** Each recipe's block of the demo's output: its delivery lines. */
function recipeBlock(out: string, type: string): string | undefined {
  return new RegExp(
    `\\+[\\d.]+ s {2}${type} fired \\([^)]+\\): notification \\S+\\n((?: {10}.*\\n)+)`,
  ).exec(out)?.[1];
}

describe('herald demo', () => {
  describe('on PostgreSQL beside a running herald start', { skip: pgSkip }, () => {
    const schema = freshSchema('demo');
    const serverErr: string[] = [];
    let server: ChildProcess;
    before(async () => {
      server = await startHeraldWorker(
        { DATABASE_URL: PG_URL, HERALD_SCHEMA: schema, HERALD_PORT: '0' },
        serverErr,
        'start',
      );
    });
    after(async () => {
      if (server.exitCode === null) {
        const exited = new Promise((resolve) => server.on('exit', resolve));
        server.kill('SIGTERM');
        await exited;
      }
      await dropSchema(schema);
    });

    it('delivers every recipe with its content and says so', async () => {
      const demo = await runDemo(['--database-url', PG_URL, '--schema', schema], {});
      assert.equal(demo.code, 0, `${demo.out}\n${demo.err}`);
      assert.doesNotMatch(demo.out, /render_error|NOT DELIVERED|Not delivered/);
      assert.match(demo.out, /^4\. email: sent, written to /m);
      for (const type of RECIPES) {
        const block = recipeBlock(demo.out, type);
        assert.ok(block, `${type} fired:\n${demo.out}`);
        assert.match(block, /^ {10}email: sent, /m, `${type}:\n${block}`);
        assert.match(block, /^ {10}inapp: sent, in the inbox$/m, `${type}:\n${block}`);
      }
      assert.match(
        demo.out,
        new RegExp(
          `^Summary: 4 of 4 recipes delivered in [\\d.]+ s \\(${RECIPES.join(', ')}\\): 4 emails, 4 inbox items\\.$`,
          'm',
        ),
      );
      assert.equal(server.exitCode, null, 'the server still runs');
    });
  });

  it('reports deliveries that failed as failures and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-demo-fail-'));
    try {
      // No SMTP server listens on port 1: each email fails at its only attempt.
      const demo = await runDemo(['--data-dir', dir], {
        HERALD_SMTP_URL: 'smtp://127.0.0.1:1',
        HERALD_DELIVERY_MAX_ATTEMPTS: '1',
      });
      assert.equal(demo.code, 1, `${demo.out}\n${demo.err}`);
      assert.match(
        demo.out,
        /^4\. email: failed \(retries_exhausted\): smtp: connect ECONNREFUSED/m,
      );
      assert.match(demo.out, /^ {3}NOT DELIVERED: email failed: /m);
      for (const type of RECIPES) {
        assert.match(recipeBlock(demo.out, type) ?? '', /^ {10}email: failed /m, type);
        assert.match(demo.out, new RegExp(`^Not delivered: ${type}: email failed: `, 'm'));
      }
      assert.match(
        demo.out,
        /^Summary: 0 of 4 recipes delivered in [\d.]+ s \(none\): 0 emails, 4 inbox items\.$/m,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
