/**
 * Starting the embedded database from a dump of a migrated one (`pgliteLoadDataDir`), as every
 * PGlite test does (helpers/pglite-snapshot.ts): Herald finds the schema current and applies
 * nothing, each database is its own copy, and the option is refused where it cannot apply.
 * And a new data folder seeded from a dump file (`pgliteSeed`, HERALD_PGLITE_SEED).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createHerald, HeraldError } from '../src/index.js';
import { knownMigrations } from '../src/db/migrate.js';
import { closeHerald, openHerald, PG_URL } from './helpers/db.js';
import { pgliteSnapshot } from './helpers/pglite-snapshot.js';

describe('PGlite from a migrated snapshot', () => {
  it('starts current (no migration applied) and each copy is its own database', async () => {
    await pgliteSnapshot();
    const opened = Date.now();
    const a = await openHerald('pglite');
    const b = await openHerald('pglite');
    try {
      const { rows } = await a.db.query<{ n: number; max: number; last: Date }>(
        `SELECT count(*)::int AS n, max(id)::int AS max, max(applied_at) AS last
         FROM "${a.config.schema}".migrations`,
      );
      assert.equal(rows[0]?.n, knownMigrations().length);
      assert.equal(rows[0]?.max, knownMigrations().at(-1)?.id);
      assert.ok((rows[0]?.last.getTime() ?? Infinity) < opened, 'migrated before, not on open');
      await a.recipients.upsert('only-in-a', {});
      assert.ok(await a.recipients.get('only-in-a'));
      assert.equal(await b.recipients.get('only-in-a'), null);
    } finally {
      await closeHerald(a);
      await closeHerald(b);
    }
  });

  it('refuses a dump with a data folder or a PostgreSQL URL (config_invalid)', async () => {
    const dump = await pgliteSnapshot();
    const dir = await mkdtemp(join(tmpdir(), 'herald-dump-'));
    try {
      for (const where of [{ dataDir: dir }, { databaseUrl: PG_URL }]) {
        await assert.rejects(
          createHerald({ ...where, pgliteLoadDataDir: dump, logLevel: 'warn' }),
          (err: unknown) =>
            err instanceof HeraldError &&
            err.code === 'config_invalid' &&
            /pgliteLoadDataDir/.test(err.message),
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('seeds a new data folder from HERALD_PGLITE_SEED, and leaves a folder with a database alone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-seed-'));
    const seed = join(dir, 'seed.tar');
    await writeFile(seed, Buffer.from(await (await pgliteSnapshot()).arrayBuffer()));
    const applied = async (h: Awaited<ReturnType<typeof createHerald>>) =>
      (
        await h.db.query<{ n: number; last: Date }>(
          `SELECT count(*)::int AS n, max(applied_at) AS last FROM "${h.config.schema}".migrations`,
        )
      ).rows[0]!;
    try {
      const opened = Date.now();
      const first = await createHerald({
        dataDir: join(dir, 'data'),
        pgliteSeed: seed,
        logLevel: 'warn',
      });
      try {
        const m = await applied(first);
        assert.equal(m.n, knownMigrations().length);
        assert.ok(m.last.getTime() < opened, 'migrated in the seed, not on open');
        await first.recipients.upsert('kept', {});
      } finally {
        await first.close();
      }
      // Opened again with the seed: the folder's own data, not a fresh copy of the seed.
      const again = await createHerald({
        dataDir: join(dir, 'data'),
        pgliteSeed: seed,
        logLevel: 'warn',
      });
      try {
        assert.ok(await again.recipients.get('kept'));
      } finally {
        await again.close();
      }
      await assert.rejects(
        createHerald({
          dataDir: join(dir, 'other'),
          pgliteSeed: join(dir, 'missing.tar'),
          logLevel: 'warn',
        }),
        (err: unknown) =>
          err instanceof HeraldError &&
          err.code === 'config_invalid' &&
          /HERALD_PGLITE_SEED/.test(err.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
