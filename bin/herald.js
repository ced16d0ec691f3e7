#!/usr/bin/env node
// The `herald` command: runs the compiled CLI. It never builds: `npm install` (the prepare
// hook) or `npm run build` makes dist/, so running the command cannot disturb a dist/ that
// another herald process is using.
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'herald: the compiled code (dist/) is missing: run `npm run build` in the herald folder\n',
  );
  process.exit(1);
}
const { main } = await import(cli.href);
await main(process.argv);
