#!/usr/bin/env node
// The `herald` command: runs the compiled CLI (built by `npm install` through the prepare hook).
import { main } from '../dist/cli/main.js';

await main(process.argv);
