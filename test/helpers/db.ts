/**
 * Test databases. PostgreSQL tests use HERALD_TEST_DATABASE_URL (default the development
 * machine's server); each test gets its own schema, so test files run in parallel. Under CI
 * a missing server fails the run; elsewhere its tests are skipped with one line.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createHerald, type CreateHeraldOptions, type Herald } from '../../src/index.js';
import { pgliteSnapshot } from './pglite-snapshot.js';

export const PG_URL =
  process.env.HERALD_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<string | undefined> | undefined;

/** undefined when PostgreSQL is usable, else why not (and then the PG tests skip, or fail in CI). */
export function pgSkipReason(): Promise<string | undefined> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (err) {
      const why = `PostgreSQL tests skipped: cannot reach ${PG_URL} (${(err as Error).message}); set HERALD_TEST_DATABASE_URL`;
      if (process.env.CI === 'true')
        throw new Error(`${why} — under CI they must run`, { cause: err });
      process.stderr.write(why + '\n');
      return why;
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return reachable;
}

export function freshSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** A pg client on the test database, for looking at tables from outside Herald. */
export async function pgClient(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  return client;
}

export type Backend = 'pglite' | 'pg';
export const BACKENDS: Backend[] = ['pglite', 'pg'];

/**
 * The backend of a provider's protocol tests (email, SMS, push, chat and webhook providers, and
 * their delivery callbacks): one, not both. A provider speaks the same protocol whatever the
 * database, and the storage it goes through (deliveries, events, retries, suppressions) is
 * tested on both backends by the pipeline, notification, queue and failover tests. PostgreSQL
 * when it is reachable (a tenth of a PGlite database's start-up CPU), else PGlite, so the
 * provider tests run on a machine without a server too.
 */
export async function providerBackends(): Promise<Backend[]> {
  return (await pgSkipReason()) ? ['pglite'] : ['pg'];
}

/**
 * Opens Herald on a backend: PGlite in memory (started from the migrated snapshot,
 * helpers/pglite-snapshot.ts), or PostgreSQL in a fresh schema.
 */
export async function openHerald(
  backend: Backend,
  options: CreateHeraldOptions = {},
): Promise<Herald> {
  const base: CreateHeraldOptions = { logLevel: 'warn', ...options };
  if (backend === 'pglite') {
    const dir = base.config?.dataDir ?? base.dataDir;
    const onDisk = dir !== undefined && dir !== ':memory:';
    return createHerald({
      dataDir: ':memory:',
      ...(onDisk ? {} : { pgliteLoadDataDir: await pgliteSnapshot() }),
      ...base,
    });
  }
  return createHerald({ databaseUrl: PG_URL, schema: freshSchema(), ...base });
}

/** Closes Herald and, on PostgreSQL, drops its schema. */
export async function closeHerald(herald: Herald): Promise<void> {
  const { schema } = herald.config;
  const onPg = herald.db.kind === 'pg';
  await herald.close();
  if (onPg) await dropSchema(schema);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs: number,
  what: string,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * Polls `check` until it returns a truthy value, for as long as the work it waits for moves:
 * fails only when `progress()` (a count of work done, such as messages received or runs
 * finished) has not grown for `stallMs`. A wait for an amount of work whose speed is the
 * machine's: a busy machine makes it slower, not wrong.
 */
export async function waitForProgress<T>(
  check: () => Promise<T> | T,
  progress: () => Promise<number> | number,
  stallMs: number,
  what: string,
): Promise<NonNullable<T>> {
  let seen = await progress();
  let movedAt = Date.now();
  for (;;) {
    const value = await check();
    if (value) return value;
    const now = await progress();
    if (now !== seen) {
      seen = now;
      movedAt = Date.now();
    } else if (Date.now() - movedAt > stallMs) {
      throw new Error(`no progress for ${stallMs} ms (at ${seen}) waiting for ${what}`);
    }
    await sleep(25);
  }
}
