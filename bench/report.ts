/**
 * What the benchmarks' reports share: rounding, medians and ratios, figures formatted for
 * tables, the machine a run was on, the run's JSON and its RESULTS.md section (formatted as
 * `npm run format` would, so the file stays prettier-clean), and the end of a run (a watchdog
 * that names handles left open rather than hang).
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { format, resolveConfig } from 'prettier';
import { DATABASE_URL, progress } from './env.js';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));
export const resultsDir = path.join(benchDir, 'results');
export const resultsMdPath = path.join(benchDir, 'RESULTS.md');

export const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] ?? NaN)
    : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

export const fmt = (x: number | null | undefined, digits = 0) =>
  x === undefined || x === null || !Number.isFinite(x)
    ? 'n/a'
    : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || !b ? undefined : Math.round((a / b) * 100) / 100;

export interface Machine {
  nproc: number;
  cpu: string;
  memory_gib: number;
  os: string;
  node: string;
  postgres: string;
}

export async function machineInfo(): Promise<Machine> {
  let postgres = 'unknown';
  try {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    postgres =
      (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]
        ?.server_version ?? postgres;
    await client.end();
  } catch (error) {
    postgres = `unavailable (${(error as Error).message})`;
  }
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
  };
}

/** A run's command line as `npm run <script> -- <flags>`, its date, and the section's stamp. */
export function runInfo(script: string, started: Date) {
  const flags = process.argv.slice(2);
  return {
    command: `npm run ${script}${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}`,
    date: started.toISOString(),
    stamp: `${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  };
}

/**
 * Prints a run's RESULTS.md section, formatted in the file's own prettier settings (tables
 * aligned); with `write`, writes the run's JSON to `jsonPath` and appends the section.
 */
export async function publish(run: {
  markdown: string;
  json: unknown;
  jsonPath: string;
  write: boolean;
}): Promise<void> {
  const section = await format(run.markdown, {
    ...((await resolveConfig(resultsMdPath)) ?? {}),
    parser: 'markdown',
  });
  process.stdout.write(`\n${section}`);
  if (!run.write) return;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(run.jsonPath, `${JSON.stringify(run.json, null, 2)}\n`);
  appendFileSync(resultsMdPath, `\n${section}`);
  progress(
    `wrote ${path.relative(process.cwd(), run.jsonPath)} and appended to ${path.relative(process.cwd(), resultsMdPath)}`,
  );
}

/**
 * Runs a benchmark's main(): a failure exits 1 with its stack; a run whose connections were
 * not all closed exits anyway 10 s after the end, saying what held it (and `describe`'s lines).
 */
export function runMain(main: () => Promise<void>, describe?: () => string[]): void {
  main().then(
    () => {
      const watchdog = setTimeout(() => {
        progress(
          `warning: still running 10 s after the end; open handles: ${process.getActiveResourcesInfo().join(', ')}`,
        );
        for (const line of describe?.() ?? []) progress(`  ${line}`);
        process.exit(process.exitCode ?? 0);
      }, 10_000);
      watchdog.unref();
    },
    (error: unknown) => {
      progress(`fatal: ${(error as Error).stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
