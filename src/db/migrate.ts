/**
 * Numbered, append-only SQL migrations (`migrations/NNNN_name.sql`), applied in order, each
 * in its own transaction, under a session advisory lock so that any number of processes
 * starting at once on an empty database install the schema exactly once. Applied migrations
 * are recorded in `<schema>.migrations`. A database that has migrations this code does not
 * know (a newer Herald ran on it) is refused rather than used.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Db, Queryable } from './db.js';
import { HeraldError } from '../errors.js';
import { checkSchemaName, quoteIdent } from './sql.js';

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

let cached: Migration[] | undefined;

/** The migrations this code knows, in order. */
export function knownMigrations(): Migration[] {
  cached ??= readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((file) => ({
      id: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8'),
    }));
  return cached;
}

/** The NOTIFY channel on which a schema's new jobs are announced. */
export function jobsChannel(schema: string): string {
  return `${checkSchemaName(schema)}_jobs`;
}

/** The NOTIFY channel on which a schema's inbox changes wake the real-time hubs. */
export function inboxChannel(schema: string): string {
  return `${checkSchemaName(schema)}_inbox`;
}

function render(sql: string, schema: string): string {
  return sql
    .replaceAll('{{schema}}', quoteIdent(schema))
    .replaceAll('{{jobs_channel}}', jobsChannel(schema));
}

export interface MigrateResult {
  applied: Migration[];
  current: number;
}

export async function migrate(db: Db, schema: string): Promise<MigrateResult> {
  checkSchemaName(schema);
  const known = knownMigrations();
  const latest = known.at(-1)?.id ?? 0;
  // Fast path: an up-to-date schema needs no lock (most starts).
  if ((await appliedVersion(db, schema)) === latest) return { applied: [], current: latest };

  return db.withConnection(async (conn) => {
    const lockKey = `herald:migrate:${schema}`;
    await conn.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
    try {
      await conn.exec(
        `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};
         CREATE TABLE IF NOT EXISTS ${quoteIdent(schema)}.migrations (
           id integer PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         );`,
      );
      const { rows } = await conn.query<{ id: number }>(
        `SELECT id FROM ${quoteIdent(schema)}.migrations ORDER BY id`,
      );
      const done = new Set(rows.map((r) => Number(r.id)));
      refuseNewer(Math.max(0, ...done), latest);
      const applied: Migration[] = [];
      for (const m of known) {
        if (done.has(m.id)) continue;
        try {
          await conn.exec(`BEGIN;\n${render(m.sql, schema)}`);
          await conn.query(
            `INSERT INTO ${quoteIdent(schema)}.migrations (id, name) VALUES ($1, $2)`,
            [m.id, m.name],
          );
          await conn.exec('COMMIT');
        } catch (err) {
          await conn.exec('ROLLBACK').catch(() => undefined);
          throw new HeraldError(
            'internal',
            `migration ${m.id}_${m.name} failed: ${(err as Error).message}`,
          );
        }
        applied.push(m);
      }
      return { applied, current: latest };
    } finally {
      await conn.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
    }
  });
}

/**
 * The highest migration applied to `schema`, or 0 for none; throws `schema_too_new` when the
 * database is ahead of this code.
 */
export async function appliedVersion(db: Queryable, schema: string): Promise<number> {
  const { rows } = await db.query<{ exists: boolean }>(
    `SELECT to_regclass($1) IS NOT NULL AS exists`,
    [`${quoteIdent(schema)}.migrations`],
  );
  if (!rows[0]?.exists) return 0;
  const res = await db.query<{ max: number | null }>(
    `SELECT max(id) AS max FROM ${quoteIdent(schema)}.migrations`,
  );
  const version = Number(res.rows[0]?.max ?? 0);
  refuseNewer(version, knownMigrations().at(-1)?.id ?? 0);
  return version;
}

function refuseNewer(applied: number, latest: number): void {
  if (applied > latest) {
    throw new HeraldError(
      'schema_too_new',
      `the database schema is at migration ${applied} but this Herald knows only up to ${latest}: a newer Herald has migrated it; upgrade Herald (or point it at another database)`,
    );
  }
}
