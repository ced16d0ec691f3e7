/**
 * The migrated PGlite database every PGlite test starts from. Initialising a PGlite data
 * folder (initdb) and migrating it costs seconds of CPU; loading a dump of one migrated
 * already costs a fraction of that. scripts/test.mjs makes the dump once per run
 * (`node --import tsx test/helpers/pglite-snapshot.ts <file>`) and names the file in
 * HERALD_TEST_PGLITE_DUMP; a test file run some other way makes its own, once.
 * Herald still runs its migration check on each database and finds the schema current.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { migrate } from '../../src/db/migrate.js';
import { wrapPglite } from '../../src/db/pglite.js';
import { parseConfig } from '../../src/config.js';

/** A dump (uncompressed tar) of a new PGlite database with Herald's default schema migrated. */
export async function makePgliteSnapshot(): Promise<Blob> {
  const pglite = await PGlite.create();
  try {
    await migrate(wrapPglite(pglite, '(snapshot)'), parseConfig({}).schema);
    // A database started from a dump keeps PostgreSQL's startup-progress timer (10 s, one
    // emscripten setTimeout) running until it is closed; one a test forgot to close would
    // then hold its file's process open for ever instead of letting it exit.
    await pglite.exec('ALTER SYSTEM SET log_startup_progress_interval = 0');
    // Herald uses only the `postgres` database: the template databases are 600 of the dump's
    // 1,100 files and 15 of its 41 MB, and every test database unpacks the whole dump (about
    // a third of its start-up CPU).
    for (const db of ['template0', 'template1']) {
      // One statement each: DROP DATABASE cannot run inside the implicit multi-statement block.
      await pglite.exec(`ALTER DATABASE ${db} IS_TEMPLATE false`);
      await pglite.exec(`DROP DATABASE ${db}`);
    }
    await pglite.exec('CHECKPOINT');
    // Uncompressed: a gzipped one is smaller but every test database would pay to inflate it.
    return await pglite.dumpDataDir('none');
  } finally {
    await pglite.close();
  }
}

let snapshot: Promise<Blob> | undefined;

/** The dump named by HERALD_TEST_PGLITE_DUMP, else one made by this process (once). */
export function pgliteSnapshot(): Promise<Blob> {
  snapshot ??= (async () => {
    const file = process.env.HERALD_TEST_PGLITE_DUMP;
    return file ? new Blob([await readFile(file)]) : makePgliteSnapshot();
  })();
  return snapshot;
}

// Run as a script: write the dump to the file given.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = process.argv[2];
  if (!out) throw new Error('usage: node --import tsx test/helpers/pglite-snapshot.ts <file>');
  const dump = await makePgliteSnapshot();
  await writeFile(out, Buffer.from(await dump.arrayBuffer()));
}
