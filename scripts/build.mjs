// Compiles src/ to dist/ and copies the SQL migrations beside the compiled code,
// so the package runs with plain `node` after `npm install` (the `prepare` hook).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('src/db/migrations', 'dist/db/migrations', { recursive: true });
