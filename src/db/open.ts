/**
 * Opens the configured database: a PostgreSQL server when a URL is given, otherwise the
 * embedded PGlite in the data folder. Connection failures become one clear error.
 */
import type { Db } from './db.js';
import { makePgDb, describeUrl } from './pg.js';
import { makePgliteDb } from './pglite.js';
import { HeraldError } from '../errors.js';
import type { Logger } from '../obs/log.js';

export interface OpenDbOptions {
  databaseUrl?: string | undefined;
  /**
   * The PostgreSQL server itself when `databaseUrl` is a pooler in transaction mode: LISTEN and
   * the migration lock use it (pg.ts). Absent: `databaseUrl` serves both.
   */
  directDatabaseUrl?: string | undefined;
  /** A folder, or `':memory:'` for a throw-away embedded database. */
  dataDir?: string;
  /** A dump of a data folder that an in-memory embedded database starts from (db/pglite.ts). */
  pgliteLoadDataDir?: Blob | undefined;
  /** A dump file a new embedded data folder starts from (config `pgliteSeed`). */
  pgliteSeed?: string | undefined;
  poolSize?: number;
  /** PostgreSQL connections opened at start and kept open (pg.ts). */
  poolMin?: number;
  /** Default: on, unless `directDatabaseUrl` is given (a pooler is in front). */
  preparedStatements?: boolean;
  queryTimeoutMs?: number;
  listenCheckMs?: number;
  log: Logger;
}

export async function openDb(options: OpenDbOptions): Promise<Db> {
  if (options.databaseUrl) {
    if (options.pgliteLoadDataDir) {
      throw new HeraldError(
        'config_invalid',
        'a data-folder dump (pgliteLoadDataDir) is for the embedded database: unset it, or unset DATABASE_URL',
      );
    }
    const direct = options.directDatabaseUrl;
    const db = makePgDb({
      url: options.databaseUrl,
      directUrl: direct,
      log: options.log,
      poolSize: options.poolSize ?? 10,
      poolMin: options.poolMin ?? 1,
      preparedStatements: options.preparedStatements ?? !direct,
      queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
      listenCheckMs: options.listenCheckMs ?? 10_000,
    });
    try {
      // Every kept connection at once (the pool opens one per request it has no idle
      // connection for), now rather than on the first burst of work.
      const kept = Math.max(1, Math.min(options.poolMin ?? 1, options.poolSize ?? 10));
      await Promise.all(Array.from({ length: kept }, () => db.query('SELECT 1')));
    } catch (err) {
      await db.close().catch(() => undefined);
      throw unreachable(err, options.databaseUrl);
    }
    if (direct) {
      // The direct connection is used only now and then (migrations, a LISTEN re-established
      // after an outage): a wrong one is found now, not then.
      try {
        await db.withConnection((conn) => conn.query('SELECT 1'));
      } catch (err) {
        await db.close().catch(() => undefined);
        throw unreachable(err, direct, 'Check HERALD_DIRECT_DATABASE_URL');
      }
    }
    return db;
  }
  const dataDir = options.dataDir === ':memory:' ? undefined : (options.dataDir ?? './.herald');
  const loadDataDir = options.pgliteLoadDataDir;
  return makePgliteDb({
    ...(dataDir ? { dataDir } : {}),
    ...(loadDataDir ? { loadDataDir } : {}),
    ...(dataDir && options.pgliteSeed ? { seed: options.pgliteSeed } : {}),
  });
}

/** Why a PostgreSQL server could not be used, in words that say what to do. */
export function unreachable(
  err: unknown,
  url: string,
  /** What to check, said after the reason. */
  check = 'Check DATABASE_URL / --database-url, or unset it to use the embedded database',
): HeraldError {
  const e = err as { code?: string; message?: string };
  const where = describeUrl(url);
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused: is the server running?',
    ENOTFOUND: 'host not found',
    ETIMEDOUT: 'connection timed out',
    EHOSTUNREACH: 'host unreachable',
    '3D000': 'the database does not exist: create it first (createdb)',
    '28P01': 'password authentication failed',
    '28000': 'the server refused this user',
  };
  const reason = (e.code && reasons[e.code]) ?? e.message ?? String(err);
  return new HeraldError(
    'database_unreachable',
    `cannot use PostgreSQL at ${where}: ${reason}. ${check}`,
  );
}
