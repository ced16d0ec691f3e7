// Bundles each test file with the code it imports from src/ and test/helpers/ into one
// JavaScript file (esbuild), so the test processes run without a TypeScript loader.
//
// Why: tsx's module hooks run on a separate thread in Node 20, and every import pays a round
// trip through them: a test process spent about 1.3 s of CPU loading Herald through tsx
// against 0.5 s for the same modules as JavaScript, and the suite starts ~80 such processes.
// Packages in node_modules stay outside the bundles and load as usual.
//
// Each bundled module keeps its own `import.meta.url` (and `import.meta.dirname`): the
// plugin below writes the original file's location in their place, so a module that finds a
// file beside itself (the SQL migrations, package.json, bin/herald.js, fixtures) finds the
// same file as it would unbundled. Bundles carry source maps to the .ts files, so a failing
// test's stack names test/…/x.test.ts lines (the run enables --enable-source-maps).
import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Replaces import.meta.url / import.meta.dirname in each .ts module with its own location. */
const ownLocation = {
  name: 'own-location',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const contents = source
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)));
      return { contents, loader: 'ts' };
    });
  },
};

/**
 * Bundles `files` (test/**\/*.test.ts) into `outdir`, keeping their paths under test/, and
 * returns the bundles' paths in the same order.
 */
export async function bundleTests(files, outdir) {
  const root = resolve('test');
  await build({
    entryPoints: files.map((f) => resolve(f)),
    outbase: root,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
    plugins: [ownLocation],
  });
  return files.map((f) => resolve(outdir, relative(root, resolve(f)).replace(/\.ts$/, '.mjs')));
}
