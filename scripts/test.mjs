// Runs the whole suite with Node's test runner: every test/**/*.test.ts, each bundled with what
// it imports into one JavaScript file first (scripts/bundle-tests.mjs: a TypeScript loader in
// every test process cost more CPU than most tests; HERALD_TEST_SOURCE_MAPS=1 maps stacks back
// to the .ts lines).
//
// `node scripts/test.mjs` (what `npm test` runs) also checks the code, and overlaps the steps to
// keep both cores busy, since many test files spend part of their time waiting on sockets and
// child processes:
//   1. at once: the build (`tsc --noCheck`, for the tests that run the `herald` command), the
//      bundles, the migrated PGlite database every PGlite test starts from
//      (test/helpers/pglite-snapshot.ts),
//      the type check (`tsc --noEmit` over src, test, bench and scripts, then the browser
//      client's own project, src/client) and the lint (ESLint,
//      then dependency-cruiser's import rules);
//   2. once the build and the database are made: the test files, three at a time (each uses its
//      own schema or in-memory database), while the type check and lint finish beside them.
// A check's output is printed when it ends; the run fails if any step fails. Last it prints
// each step's time and the suite's size and time.
//
// `node scripts/test.mjs test/a.test.ts ...` runs only those files, with no checks (a focused
// run while working; it builds no dist/, so `npm run build` first if a file runs `herald`).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleTests } from './bundle-tests.mjs';

// Test files at once: three keep two cores busy, as many files wait on sockets and children.
const CONCURRENCY = Number(process.env.HERALD_TEST_CONCURRENCY ?? 3);

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
const whole = only.length === 0;
// The longest files first (each takes 15–60 s on the 2-core machine, mostly waiting on child
// processes and timers): started last, one of them would keep the run going alone at the end.
const LONG_FIRST = [
  'test/queue-processes.test.ts',
  'test/cli.test.ts',
  'test/api-fuzz.test.ts',
  'test/email-extras.test.ts',
  'test/reminders.test.ts',
  'test/email-http-providers.test.ts',
  'test/demo.test.ts',
  'test/rate-limit.test.ts',
  'test/template-files.test.ts',
  'test/api-fuzz-notifications.test.ts',
  'test/recipes.test.ts',
  'test/scheduler-processes.test.ts',
];
const rank = (f) => (LONG_FIRST.includes(f) ? LONG_FIRST.indexOf(f) : LONG_FIRST.length);
const files = whole
  ? find('test')
      .sort()
      .sort((a, b) => rank(a) - rank(b))
  : only;
/** A tool's script in node_modules, run with this node (as npm run would, without npm). */
const bin = (pkg, path) => join('node_modules', pkg, path);

const tmp = mkdtempSync(join(tmpdir(), 'herald-test-'));
const dump = join(tmp, 'pglite-migrated.tar');
// Inside node_modules, so the bundles find the packages they import; one folder per run.
mkdirSync(join('node_modules', '.cache', 'herald-tests'), { recursive: true });
const bundles = mkdtempSync(join('node_modules', '.cache', 'herald-tests', 'run-'));
const children = new Set();
const seconds = (ms) => `${(ms / 1000).toFixed(0)} s`;

/**
 * Runs one step as a child process. `show` 'live' passes its output through as it comes;
 * otherwise it is kept and printed when the step ends (so steps running together do not mix).
 */
function step(name, args, { show = 'buffered', env = process.env } = {}) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, {
      stdio: ['inherit', 'pipe', 'pipe'],
      env,
    });
    children.add(child);
    let out = '';
    let tail = '';
    const take = (stream) => (chunk) => {
      if (show === 'live') {
        stream.write(chunk);
        tail = (tail + chunk.toString()).slice(-262144);
      } else out += chunk.toString();
    };
    child.stdout.on('data', take(process.stdout));
    child.stderr.on('data', take(process.stderr));
    child.on('close', (code, signal) => {
      children.delete(child);
      const ok = code === 0;
      if (show !== 'live' && (out.trim() || !ok)) {
        process.stdout.write(`\n── ${name} ${ok ? 'passed' : 'FAILED'} ──\n${out.trimEnd()}\n`);
      }
      resolve({
        name,
        ok,
        ms: Date.now() - t0,
        tail,
        why: signal ? `killed by ${signal}` : `exit ${code}`,
      });
    });
  });
}

/** Steps one after another; stops at the first that fails. */
async function inOrder(...steps) {
  const results = [];
  for (const s of steps) {
    const r = await s();
    results.push(r);
    if (!r.ok) break;
  }
  return results;
}

const stop = (signal) => {
  for (const c of children) c.kill(signal);
};
process.on('SIGINT', stop).on('SIGTERM', stop);

const snapshot = step('migrated PGlite database', [
  '--import',
  'tsx',
  'test/helpers/pglite-snapshot.ts',
  dump,
]);
const build = whole ? step('build', ['scripts/build.mjs', '--no-check']) : undefined;
// Two projects: the browser client (src/client) has DOM types and no Node ones.
const typecheck = whole
  ? inOrder(
      () => step('typecheck', [bin('typescript', 'bin/tsc'), '-p', 'tsconfig.json', '--noEmit']),
      () =>
        step('typecheck client', [
          bin('typescript', 'bin/tsc'),
          '-p',
          'src/client/tsconfig.json',
          '--noEmit',
        ]),
    )
  : undefined;
const lint = whole
  ? inOrder(
      () => step('eslint', [bin('eslint', 'bin/eslint.js'), 'src', 'test', 'scripts', 'bench']),
      () =>
        step('dependency-cruiser', [
          bin('dependency-cruiser', 'bin/dependency-cruise.mjs'),
          'src',
          '--config',
          '.dependency-cruiser.cjs',
        ]),
    )
  : Promise.resolve([]);

/** The test files bundled (scripts/bundle-tests.mjs), as a step like the others. */
async function bundled() {
  const t0 = Date.now();
  try {
    const out = await bundleTests(files, bundles);
    return { name: 'bundle', ok: true, ms: Date.now() - t0, files: out };
  } catch (err) {
    console.error(`test: bundling the test files failed: ${err.message}`);
    return { name: 'bundle', ok: false, ms: Date.now() - t0, why: 'esbuild error' };
  }
}

const ready = await Promise.all([snapshot, build, bundled()].filter(Boolean));
const bundle = ready.at(-1);
let tests;
if (ready.every((r) => r.ok)) {
  tests = await step(
    'tests',
    [
      // Stacks point into the bundles unless source maps are on (they cost CPU in every file).
      ...(process.env.HERALD_TEST_SOURCE_MAPS ? ['--enable-source-maps'] : []),
      '--test',
      `--test-concurrency=${CONCURRENCY}`,
      '--test-reporter=spec',
      ...bundle.files,
    ],
    {
      show: 'live',
      // The same dump seeds the data folders of the `herald` processes tests start (config
      // pgliteSeed): each would otherwise create and migrate a database, seconds of CPU.
      env: { ...process.env, HERALD_TEST_PGLITE_DUMP: dump, HERALD_PGLITE_SEED: dump },
    },
  );
} else {
  console.error('test: the tests did not run: a step they need failed (see above)');
}
const checks = [...(typecheck ? await typecheck : []), ...(await lint)];
rmSync(tmp, { recursive: true, force: true });
rmSync(bundles, { recursive: true, force: true });

const all = [...ready, ...checks, ...(tests ? [tests] : [])];
const failed = all.filter((r) => !r.ok);
console.log(
  `\nsteps: ${all.map((r) => `${r.name} ${r.ok ? seconds(r.ms) : `FAILED (${r.why})`}`).join(' · ')}`,
);
// The runner's own "ℹ tests N" line gives the count (the tail is long enough to reach it past
// a list of failing tests).
const count = /ℹ tests (\d+)/.exec(tests?.tail ?? '')?.[1] ?? '?';
const s = Math.round((Date.now() - started) / 1000);
console.log(`suite: ${count} tests in ${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`);
process.exit(failed.length > 0 ? 1 : 0);
