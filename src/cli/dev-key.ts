/**
 * Zero set-up for a newcomer: `npm start` on the embedded database with no API key anywhere
 * makes one admin key, prints it, and keeps it in `<dataDir>/dev-api-key` so the README's curl
 * calls work (`-H "authorization: Bearer $(cat .herald/dev-api-key)"`). On a PostgreSQL
 * server (production) nothing is made: keys are created on purpose with `herald keys create`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Herald } from '../herald.js';

export async function ensureDevKey(herald: Herald): Promise<void> {
  if (await herald.keys.any()) return;
  if (herald.db.kind !== 'pglite' || herald.config.dataDir === ':memory:') {
    herald.log.warn(
      'no API key exists: create one with `herald keys create` (or set HERALD_API_KEY)',
    );
    return;
  }
  const made = await herald.keys.create({
    admin: true,
    name: 'development key made by herald start',
  });
  const file = join(herald.config.dataDir, 'dev-api-key');
  writeFileSync(file, `${made.key}\n`, { mode: 0o600 });
  process.stderr.write(
    `herald: no API key existed, so a development key was made (admin): ${made.key}\n` +
      `herald: it is saved in ${file}; make your own with \`herald keys create\`\n`,
  );
}
