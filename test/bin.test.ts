/**
 * The `herald` command as a newcomer runs it from the herald folder: `npx herald` and
 * `npm run herald --` answer from the built dist/ and leave it alone (npx installs the folder,
 * which ran `prepare`, which deleted dist/ and compiled it again), and a missing dist/ is a
 * one-line error that says to build. Run on a copy of the package, so nothing here can touch
 * the dist/ other tests use.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

describe('the herald command from its folder', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-bin-'));
    for (const part of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'bin',
      'scripts',
      'src',
      'dist',
    ])
      cpSync(join(ROOT, part), join(dir, part), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const run = (cmd: string, args: string[]) =>
    spawnSync(cmd, args, {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120_000,
      env: {
        ...process.env,
        DATABASE_URL: '',
        // npx's own cache in the copy: nothing outside it is written.
        npm_config_cache: join(dir, '.npm-cache'),
        npm_config_update_notifier: 'false',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
      },
    });

  /** Identity of the built entry point: a rebuild makes a new file. */
  const built = () => {
    const s = statSync(join(dir, 'dist/cli/main.js'));
    return { ino: s.ino, mtimeMs: s.mtimeMs };
  };

  it('npx herald and npm run herald -- answer from dist/ without rebuilding it', () => {
    const before = built();
    const npx = run('npx', ['--yes', 'herald', '--version']);
    assert.equal(npx.status, 0, npx.stderr);
    assert.equal(npx.stdout.trim().split('\n').at(-1), VERSION);
    const script = run('npm', ['run', '-s', 'herald', '--', '--version']);
    assert.equal(script.status, 0, script.stderr);
    assert.equal(script.stdout.trim(), VERSION);
    assert.deepEqual(built(), before, 'dist/ was rebuilt');
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('dist')),
      ['dist'],
      'no build folders left',
    );
  });

  it('the prepare hook builds only when the sources changed', () => {
    const before = built();
    const fresh = run('npm', ['run', '-s', 'prepare']);
    assert.equal(fresh.status, 0, fresh.stderr);
    assert.match(fresh.stdout, /dist\/ is up to date/);
    assert.deepEqual(built(), before);
  });

  it('a missing dist/ is one line that says to build', () => {
    renameSync(join(dir, 'dist'), join(dir, 'dist-aside'));
    try {
      const r = run(process.execPath, ['bin/herald.js', '--version']);
      assert.equal(r.status, 1);
      assert.equal(
        r.stderr,
        'herald: the compiled code (dist/) is missing: run `npm run build` in the herald folder\n',
      );
    } finally {
      renameSync(join(dir, 'dist-aside'), join(dir, 'dist'));
    }
  });
});
