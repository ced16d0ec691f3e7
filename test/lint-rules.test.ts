/**
 * The lint rules of `npm run lint` that guard the layout: import cycles and the layers of src/
 * (.dependency-cruiser.cjs, type-only imports included), the browser client standing alone,
 * and no focused tests (eslint.config.js).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
// @ts-expect-error -- eslint.config.js is plain JavaScript without declarations.
import { focusedTests } from '../eslint.config.js';

const root = resolve(import.meta.dirname, '..');
const CONFIG = join(root, '.dependency-cruiser.cjs');
const DEPCRUISE = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

/** Runs dependency-cruiser with the project's rules over `src` in `cwd`; its error lines. */
function cruise(cwd: string): { status: number | null; out: string } {
  const run = spawnSync(process.execPath, [DEPCRUISE, 'src', '--config', CONFIG, '-T', 'err'], {
    cwd,
    encoding: 'utf8',
  });
  return { status: run.status, out: run.stdout + run.stderr };
}

describe('lint: imports', () => {
  it('src/ has no import cycle and keeps its layers', () => {
    const { status, out } = cruise(root);
    assert.equal(status, 0, out);
  });

  it('refuses a type-only cycle between channels/ and notify/, and each upward import', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-lint-'));
    try {
      const file = (path: string, text: string) => {
        mkdirSync(join(dir, path, '..'), { recursive: true });
        writeFileSync(join(dir, path), text);
      };
      file(
        'tsconfig.json',
        JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }),
      );
      file('package.json', JSON.stringify({ type: 'module' }));
      // The shape main had: provider.ts took Channel from notify/types.ts, which needs provider.ts.
      file(
        'src/channels/provider.ts',
        "import type { Channel } from '../notify/types.js';\nexport type Message = { channel: Channel };\n",
      );
      file(
        'src/notify/types.ts',
        "import type { Message } from '../channels/provider.js';\nexport type Channel = 'email';\nexport type M = Message;\n",
      );
      file(
        'src/notify/policy.ts',
        "import { digest } from '../scheduler/digests.js';\nexport const p = digest;\n",
      );
      file('src/scheduler/digests.ts', 'export const digest = 1;\n');
      file(
        'src/scheduler/tasks.ts',
        "import type { Herald } from '../herald.js';\nexport type T = Herald;\n",
      );
      file('src/herald.ts', 'export type Herald = { send(): void };\n');
      // The browser client imports only itself (it is served as it is), and nothing imports it.
      file(
        'src/client/herald.ts',
        "import { readFileSync } from 'node:fs';\nimport type { Herald } from '../herald.js';\nexport const h = (x: Herald) => [x, readFileSync];\n",
      );
      file('src/http/app.ts', "import { h } from '../client/herald.js';\nexport const a = h;\n");
      const { status, out } = cruise(dir);
      assert.notEqual(status, 0, out);
      assert.match(out, /no-circular: src\/channels\/provider\.ts/);
      assert.match(
        out,
        /channels-below-notify: src\/channels\/provider\.ts → src\/notify\/types\.ts/,
      );
      assert.match(
        out,
        /notify-below-scheduler: src\/notify\/policy\.ts → src\/scheduler\/digests\.ts/,
      );
      assert.match(out, /parts-below-the-root: src\/scheduler\/tasks\.ts → src\/herald\.ts/);
      assert.match(out, /client-stands-alone: src\/client\/herald\.ts → fs\n/);
      assert.match(out, /client-stands-alone: src\/client\/herald\.ts → src\/herald\.ts/);
      assert.match(out, /nothing-imports-the-client: src\/http\/app\.ts → src\/client\/herald\.ts/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('lint: focused tests', () => {
  it('refuses every way node:test focuses a test, and nothing else', async () => {
    const eslint = new ESLint({
      cwd: root,
      overrideConfigFile: true,
      overrideConfig: {
        languageOptions: { sourceType: 'module' },
        rules: { 'no-restricted-syntax': ['error', ...(focusedTests as unknown[])] },
      },
    });
    const lint = async (code: string) => {
      const [result] = await eslint.lintText(code, { filePath: join(root, 'probe.test.js') });
      return result!.messages.map((m) => m.line);
    };
    // Fixtures as text, linted in memory: each is a focused test the rule must refuse.
    const focused = [
      "test.only('a', () => {});",
      "describe.only('b', () => {});",
      "it.only('c', () => {});",
      "test('d', { only: true }, () => {});",
      "it('e', { only: true }, () => {});",
      "test('f', async (t) => { await t.test.only('g', () => {}); });",
      "test('h', async (t) => { await t.test('i', { only: true }, () => {}); });",
      "test('j', (t) => { t.runOnly(true); });",
    ];
    for (const code of focused) assert.deepEqual(await lint(code), [1], code);
    const fine = [
      "test('a', { skip: true }, () => {});",
      "describe('b', () => { it('c', () => {}); });",
      'const only = process.argv.slice(2);',
      'const o = { only: true };',
    ];
    for (const code of fine) assert.deepEqual(await lint(code), [], code);
  });
});
