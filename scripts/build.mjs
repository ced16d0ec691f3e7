// Compiles src/ to dist/ and copies the SQL migrations beside the compiled code, so the
// package runs with plain `node` after `npm install` (the `prepare` hook).
//
// dist/ is never seen half-built: tsc writes into a fresh folder beside it, which then
// replaces dist/ by rename. (Deleting dist/ first and compiling in place left it missing
// when two builds overlapped or one was stopped, e.g. by `npx herald`, whose install of this
// folder runs `prepare`.)
//
// `--if-stale` (the `prepare` hook) builds only when the sources changed since dist/ was
// built: a digest of src/ and the tsconfig files is kept in dist/.source-digest. So
// `npm install` after a pull rebuilds, and `npx herald` on a built folder leaves it alone.
//
// `--no-check` emits without type-checking: `npm test` type-checks src/ with test/, bench/
// and scripts/ in one pass (`npm run typecheck`) and needs no second pass here.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const DIGEST_FILE = '.source-digest';

function files(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

function sourceDigest() {
  const hash = createHash('sha256');
  for (const file of [...files('src'), 'tsconfig.json', 'tsconfig.build.json']) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(file));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const digest = sourceDigest();
if (process.argv.includes('--if-stale')) {
  let built;
  try {
    built = readFileSync(join('dist', DIGEST_FILE), 'utf8').trim();
  } catch {
    built = undefined;
  }
  if (built === digest && existsSync('dist/cli/main.js')) {
    process.stdout.write('herald: dist/ is up to date with src/ (npm run build rebuilds it)\n');
    process.exit(0);
  }
}

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const noCheck = process.argv.includes('--no-check') ? ['--noCheck'] : [];
const next = `dist.building-${process.pid}`;
const old = `dist.old-${process.pid}`;
rmSync(next, { recursive: true, force: true });
try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', next, ...noCheck], {
    stdio: 'inherit',
  });
  // The browser client is its own project (DOM types, no Node): dist/client/, served by Herald
  // at /client/ (src/http/client-routes.ts) and exported as herald/client.
  execFileSync(
    process.execPath,
    [tsc, '-p', 'src/client/tsconfig.json', '--outDir', join(next, 'client'), ...noCheck],
    { stdio: 'inherit' },
  );
  cpSync('src/db/migrations', join(next, 'db/migrations'), { recursive: true });
  // The console's stylesheet and script, served from beside the compiled code (src/admin/assets.ts).
  cpSync('src/admin/assets', join(next, 'admin/assets'), { recursive: true });
  writeFileSync(join(next, DIGEST_FILE), `${digest}\n`);
} catch (err) {
  rmSync(next, { recursive: true, force: true });
  throw err;
}
// Two renames: dist/ is missing only between them, never half-written.
if (existsSync('dist')) renameSync('dist', old);
renameSync(next, 'dist');
rmSync(old, { recursive: true, force: true });
