/**
 * Where the benchmark's servers are, and how it talks to the terminal: progress goes to stderr so
 * that stdout carries only the tables.
 */
import pg from 'pg';
import { startSmtpSink, type SmtpSink } from '../test/helpers/smtp-sink.js';

export const DATABASE_URL =
  process.env.HERALD_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.HERALD_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function progress(message: string): void {
  const stamp = new Date().toISOString().slice(11, 19);
  process.stderr.write(`[bench ${stamp}] ${message}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Drops a benchmark schema and everything in it (each queue keeps to its own schema). */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/**
 * Reading a benchmark's flags: `value(i, name)` is argv[i] (the flag's value, or an error
 * naming the flag), `count(text, name)` that value as a positive integer, `workerSettings`
 * a worker setting's three numbers.
 */
export function argReader(argv: string[]) {
  const value = (i: number, name: string): string => {
    const v = argv[i];
    if (v === undefined) throw new Error(`${name} needs a value`);
    return v;
  };
  const count = (text: string, name: string): number => {
    const v = Number(text);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
    return v;
  };
  /** `--settings CONCURRENCY,PREFETCH,SMTP_POOL` (argv[i]) as three positive integers. */
  const workerSettings = (i: number, name: string): [number, number, number] => {
    const [c, p, s] = value(i, name)
      .split(',')
      .map((x) => count(x, name));
    if (c === undefined || p === undefined || s === undefined)
      throw new Error(`${name} needs concurrency,prefetch,smtpPoolSize (e.g. 100,500,20)`);
    return [c, p, s];
  };
  return { value, count, workerSettings };
}

/** Runs `fn` with a count-only SMTP sink process (counts reported every 20 ms), then closes it. */
export async function withSink<T>(fn: (sink: SmtpSink) => Promise<T>): Promise<T> {
  const sink = await startSmtpSink({ countOnly: true, countIntervalMs: 20 });
  try {
    return await fn(sink);
  } finally {
    await sink.close();
  }
}
