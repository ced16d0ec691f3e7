/**
 * The README's walk-through, run as written with bash, curl and jq against `herald start` on a
 * fresh embedded database: only its folder (`.herald/`) and port (8710) are changed to this
 * test's. Its notification id is copy-pasteable (the old `<id from the answer>` was not, and
 * the id at hand was the trigger's, which 404s).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers/db.js';

const BIN = fileURLToPath(new URL('../bin/herald.js', import.meta.url));
const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const missing = ['bash', 'curl', 'jq'].filter(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
);

/** A port free right now (the README's 8710 may be taken on this machine). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('README', () => {
  it(
    'the quick start walk-through works as written',
    { skip: missing.length > 0 ? `needs ${missing.join(', ')}` : false },
    async () => {
      const blocks = [...README.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
      const walk = blocks.find((b) => b.includes('/v1/notifications'));
      assert.ok(walk, 'the walk-through block');
      const dir = mkdtempSync(join(tmpdir(), 'herald-readme-'));
      const port = await freePort();
      const script = walk
        .replaceAll('.herald/', `${dir}/`)
        .replaceAll('localhost:8710', `localhost:${port}`)
        // A busy machine may take longer than the README's second to send: wait for it.
        .replace(
          /^sleep 1; /m,
          `until curl -s localhost:${port}/v1/notifications/$ID -H "$H" | jq -e 'all(.deliveries[]; .status != "queued")' >/dev/null; do sleep 0.2; done; `,
        );
      const child = spawn(
        process.execPath,
        [BIN, 'start', '--data-dir', dir, '--port', String(port)],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, DATABASE_URL: '', HERALD_API_KEY: '', HERALD_ADMIN_KEY: '' },
        },
      );
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      try {
        // A first start creates the embedded database: tens of seconds on a busy machine.
        await waitFor(
          () => err.includes('herald: ready at') || child.exitCode !== null,
          180_000,
          'herald start to be ready',
        );
        assert.equal(child.exitCode, null, err);
        const run = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], {
          encoding: 'utf8',
          timeout: 120_000,
        });
        assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
        const lines = run.stdout.trim().split('\n');
        assert.match(lines[0] ?? '', /^\{"name":"welcome",/);
        assert.match(lines[1] ?? '', /^\{"id":"ada",/);
        assert.deepEqual(lines.slice(2, 4).sort(), ['["email","sent"]', '["inapp","sent"]']);
        assert.match(lines[4] ?? '', /^\S+\.eml$/);
        assert.equal(lines.length, 5, run.stdout);
      } finally {
        if (child.exitCode === null) {
          const exited = new Promise((resolve) => child.on('exit', resolve));
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
