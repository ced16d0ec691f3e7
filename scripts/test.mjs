// Runs the whole suite with Node's test runner: every test/**/*.test.ts, TypeScript through tsx.
// Test files run two at a time (each uses its own schema or in-memory database). First it makes
// the migrated PGlite database that every PGlite test starts from (test/helpers/pglite-snapshot.ts),
// once for the run; last it prints the suite's size and time after node's own summary.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? find(join(dir, e.name))
      : e.name.endsWith('.test.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

const started = Date.now();
const only = process.argv.slice(2);
const files = only.length > 0 ? only : find('test').sort();

const tmp = mkdtempSync(join(tmpdir(), 'herald-test-'));
const dump = join(tmp, 'pglite-migrated.tar');
const made = spawnSync(
  process.execPath,
  ['--import', 'tsx', 'test/helpers/pglite-snapshot.ts', dump],
  { stdio: 'inherit' },
);
if (made.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  console.error('test: could not make the migrated PGlite database (see above)');
  process.exit(1);
}

const args = [
  '--import',
  'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  ...files,
];
const run = spawn(process.execPath, args, {
  stdio: ['inherit', 'pipe', 'inherit'],
  env: { ...process.env, HERALD_TEST_PGLITE_DUMP: dump },
});
// Passed through as it comes; the runner's own "ℹ tests N" line gives the count (the tail is
// long enough to reach it past a list of failing tests).
let tail = '';
run.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-262144);
});
const stop = (signal) => run.kill(signal);
process.on('SIGINT', stop).on('SIGTERM', stop);
run.on('close', (code, signal) => {
  rmSync(tmp, { recursive: true, force: true });
  const tests = /ℹ tests (\d+)/.exec(tail)?.[1] ?? '?';
  const s = Math.round((Date.now() - started) / 1000);
  console.log(`suite: ${tests} tests in ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`);
  process.exit(code ?? (signal ? 1 : 0));
});
