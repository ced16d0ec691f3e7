/**
 * Settings are checked before the database is opened and migrated: a provider setting with a
 * typo (an email provider chosen but not configured) stops `herald start`, `herald migrate` and
 * createHerald with a `herald:` line / a config_invalid error, and a fresh PostgreSQL schema is
 * still not there afterwards.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { createHerald, HeraldError } from '../src/index.js';
import { dropSchema, freshSchema, PG_URL, pgClient, pgSkipReason } from './helpers/db.js';

const BIN = new URL('../bin/herald.js', import.meta.url).pathname;
const pgSkip = await pgSkipReason();

// Resend chosen as the email provider, but its key is not set: configured for email is SMTP only.
const TYPO = {
  HERALD_EMAIL_PROVIDER: 'resend',
  HERALD_SMTP_URL: 'smtp://127.0.0.1:2525',
  HERALD_RESEND_API_KEY: '',
};

async function schemaExists(schema: string): Promise<boolean> {
  const client = await pgClient();
  try {
    const r = await client.query(
      'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
      [schema],
    );
    return r.rowCount === 1;
  } finally {
    await client.end();
  }
}

describe('a bad provider setting, before the database', { skip: pgSkip }, () => {
  const schemas: string[] = [];
  const fresh = () => {
    const s = freshSchema('typo');
    schemas.push(s);
    return s;
  };
  after(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  for (const command of ['start', 'migrate'] as const) {
    it(`herald ${command} exits with a herald: line and leaves the schema unmade`, async () => {
      const schema = fresh();
      const args = [BIN, command, '--database-url', PG_URL, '--schema', schema];
      if (command === 'start') args.push('--port', '0');
      const r = spawnSync(process.execPath, args, {
        encoding: 'utf8',
        env: { ...process.env, ...TYPO },
        timeout: 120_000,
      });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^herald: HERALD_EMAIL_PROVIDER is resend, which is not configured/m);
      assert.equal(await schemaExists(schema), false, 'the schema was created or migrated');
    });
  }

  it('createHerald rejects with config_invalid and leaves the schema unmade', async () => {
    const schema = fresh();
    await assert.rejects(
      createHerald({
        databaseUrl: PG_URL,
        schema,
        logLevel: 'silent',
        emailProvider: 'resend',
        smtpUrl: 'smtp://127.0.0.1:2525',
      }),
      (err: unknown) => err instanceof HeraldError && err.code === 'config_invalid',
    );
    assert.equal(await schemaExists(schema), false, 'the schema was created or migrated');
  });
});
