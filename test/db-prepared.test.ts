/**
 * The queue's per-job statements go to PostgreSQL as named prepared statements (parsed once per
 * connection, src/db/prepared.ts), unless `preparedStatements` is off, as it must be behind a
 * pooler that does not keep them across transactions. And the pool keeps `poolMin` connections
 * open from the start. PostgreSQL only: PGlite has no connections to keep statements on.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Herald } from '../src/index.js';
import { closeHerald, openHerald, pgSkipReason } from './helpers/db.js';

const pgSkip = await pgSkipReason();

describe('prepared statements and kept connections on PostgreSQL', { skip: pgSkip }, () => {
  const opened: Herald[] = [];
  after(async () => {
    for (const herald of opened) await closeHerald(herald);
  });

  /** The named statements on the connection the pool hands out next (the one used last). */
  async function preparedOnLastConnection(herald: Herald): Promise<string[]> {
    await herald.queue.enqueue({ kind: 'noop', queue: 'prepared-q' });
    return herald.db.withConnection(async (conn) => {
      const { rows } = await conn.query<{ statement: string }>(
        `SELECT statement FROM pg_prepared_statements WHERE name LIKE 'herald\\_%'`,
      );
      return rows.map((r) => r.statement);
    });
  }

  it('prepares the enqueue statement once per connection, and not when turned off', async () => {
    const on = await openHerald('pg', { poolSize: 1, poolMin: 1 });
    opened.push(on);
    const statements = await preparedOnLastConnection(on);
    assert.equal(statements.length, 1, 'one named statement: the insert');
    assert.match(statements[0] ?? '', /INSERT INTO "[^"]+"\.jobs/);
    // A second enqueue reuses it rather than preparing another.
    assert.equal((await preparedOnLastConnection(on)).length, 1);

    const off = await openHerald('pg', { poolSize: 1, poolMin: 1, preparedStatements: false });
    opened.push(off);
    assert.deepEqual(await preparedOnLastConnection(off), []);
  });

  it('opens poolMin connections at start, and more only when asked for', async () => {
    /** When each of three connections held at once was opened, relative to `since`. */
    async function threeAtOnce(herald: Herald, since: Date): Promise<boolean[]> {
      let arrived = 0;
      let allHere!: () => void;
      const together = new Promise<void>((resolve) => (allHere = resolve));
      return Promise.all(
        Array.from({ length: 3 }, () =>
          herald.db.withConnection(async (conn) => {
            const { rows } = await conn.query<{ before: boolean }>(
              `SELECT backend_start < $1::timestamptz AS before
               FROM pg_stat_activity WHERE pid = pg_backend_pid()`,
              [since],
            );
            // Held until all three are out, so that they are three different connections.
            if (++arrived === 3) allHere();
            await together;
            return rows[0]?.before ?? false;
          }),
        ),
      );
    }
    const kept = await openHerald('pg', { poolSize: 6, poolMin: 3 });
    opened.push(kept);
    const lazy = await openHerald('pg', { poolSize: 6, poolMin: 1 });
    opened.push(lazy);
    const since = new Date();
    assert.deepEqual(await threeAtOnce(kept, since), [true, true, true]);
    const lazyOnes = await threeAtOnce(lazy, since);
    assert.equal(lazyOnes.filter(Boolean).length, 1, 'one opened at start, two on demand');
  });
});
