/**
 * The embedded implementation of `Db`: PGlite, real PostgreSQL compiled to WebAssembly,
 * storing its data in a folder (default `./.herald`) or in memory.
 *
 * Contract: PGlite is one connection in one process. Queries are serialized by PGlite
 * itself; a transaction holds the connection until it ends. A data folder is opened by one
 * process at a time: a lock file with the owner's pid refuses a second live process, because
 * two processes writing one folder would corrupt it. Several processes need a PostgreSQL
 * server (`DATABASE_URL`).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Connection, Db, Queryable, QueryResult } from './db.js';
import { HeraldError } from '../errors.js';

export interface PgliteDbOptions {
  /** A folder for the data, or undefined for a throw-away in-memory database. */
  dataDir?: string;
  /**
   * An in-memory database starts as a copy of this dump of a data folder (PGlite's
   * `dumpDataDir()`) instead of an empty one: a database migrated once and copied is several
   * times faster to start than initialising and migrating a new one.
   */
  loadDataDir?: Blob;
  /**
   * A file holding such a dump, that a new data folder starts from (config `pgliteSeed`):
   * read only when the folder has no database yet.
   */
  seed?: string;
}

export async function makePgliteDb(options: PgliteDbOptions = {}): Promise<Db> {
  const dir = options.dataDir ? resolve(options.dataDir) : undefined;
  if (dir && options.loadDataDir) {
    // A dump loaded into a folder would silently be ignored once the folder holds data.
    throw new HeraldError(
      'config_invalid',
      'a data-folder dump (pgliteLoadDataDir) starts only an in-memory database: use dataDir ":memory:" with it',
    );
  }
  const releaseLock = dir ? takeFolderLock(dir) : () => undefined;
  let pglite: PGlite;
  try {
    const seeded =
      dir && options.seed && !existsSync(join(dir, 'pgdata', 'PG_VERSION'))
        ? { loadDataDir: readSeed(options.seed) }
        : {};
    pglite = dir
      ? await PGlite.create(join(dir, 'pgdata'), seeded)
      : await PGlite.create(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {});
  } catch (err) {
    releaseLock();
    throw err;
  }
  return wrapPglite(pglite, dir ?? '(in memory)', releaseLock);
}

/** The seed dump, or an error that names the setting. */
function readSeed(file: string): Blob {
  try {
    return new Blob([readFileSync(file)]);
  } catch (err) {
    throw new HeraldError(
      'config_invalid',
      `cannot read the database seed ${file} (HERALD_PGLITE_SEED): ${(err as Error).message}`,
    );
  }
}

/**
 * `Db` over an open PGlite; `onClose` runs after it closes (releasing the folder lock). Also
 * used on its own to migrate a PGlite that is then dumped (the test suite's snapshot).
 */
export function wrapPglite(
  pglite: PGlite,
  where: string,
  onClose: () => void = () => undefined,
): Db {
  const asQueryable = (q: Pick<PGlite, 'query'>): Queryable => ({
    async query<R>(text: string, params?: unknown[]): Promise<QueryResult<R>> {
      const res = await q.query<R>(text, params);
      return { rows: res.rows };
    },
  });
  const self = asQueryable(pglite);
  return {
    kind: 'pglite',
    where,
    query: (text, params) => self.query(text, params),
    transaction: (fn) => pglite.transaction((tx) => fn(asQueryable(tx))),
    withConnection: (fn) => {
      const conn: Connection = {
        query: (text, params) => self.query(text, params),
        exec: async (script) => {
          await pglite.exec(script);
        },
      };
      return fn(conn);
    },
    async listen(channel, handlers) {
      // One process, one connection: a notification cannot be lost to a dropped connection,
      // so there is nothing to reconnect.
      const unlisten = await pglite.listen(channel, (payload) => handlers.onNotify(payload));
      return unlisten;
    },
    async close() {
      await pglite.close();
      onClose();
    },
  };
}

/** Another live process holds the data folder (the CLI adds which HTTP call does the same). */
export class DataFolderInUseError extends HeraldError {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      'config_invalid',
      `the data folder ${dir} is in use by another Herald process (pid ${pid}); stop it, choose another --data-dir, or set DATABASE_URL to share a PostgreSQL server between processes`,
    );
  }
}

/** A pid file in the data folder; a stale one (its process is gone) is taken over. */
function takeFolderLock(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const lockPath = join(dir, 'herald.lock');
  let owner: number | undefined;
  try {
    owner = Number(readFileSync(lockPath, 'utf8').trim());
  } catch {
    owner = undefined;
  }
  if (owner && owner !== process.pid && isAlive(owner)) {
    throw new DataFolderInUseError(dir, owner);
  }
  writeFileSync(lockPath, String(process.pid));
  return () => rmSync(lockPath, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
