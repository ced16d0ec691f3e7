/** The operational HTTP endpoints, in-process (Hono's app.request) on the embedded database. */
import assert from 'node:assert/strict';
import { knownMigrations } from '../src/db/migrate.js';
import { after, before, describe, it } from 'node:test';
import type { Hono } from 'hono';
import type { Herald } from '../src/index.js';
import { makeApp } from '../src/http/app.js';
import { closeHerald, openHerald, waitFor } from './helpers/db.js';

const LATEST = knownMigrations().at(-1)?.id;

describe('HTTP: health, ready, metrics', () => {
  let herald: Herald;
  let app: Hono;
  before(async () => {
    herald = await openHerald('pglite');
    app = makeApp(herald);
  });
  after(async () => {
    await closeHerald(herald);
  });

  it('/health and /ready answer', async () => {
    assert.deepEqual(await (await app.request('/health')).json(), { status: 'ok' });
    const ready = await app.request('/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), {
      status: 'ready',
      database: 'pglite',
      migration: LATEST,
    });
  });

  it('/metrics counts completed and dead jobs and shows the queue by status', async () => {
    const worker = herald.worker({
      handlers: {
        ok: () => undefined,
        bad: () => {
          throw new Error('nope');
        },
      },
    });
    await worker.start();
    await herald.queue.enqueueMany([
      { kind: 'ok' },
      { kind: 'ok' },
      { kind: 'bad', maxAttempts: 1 },
      { kind: 'waiting', delayMs: 60_000 },
    ]);
    await waitFor(
      async () =>
        (await herald.queue.dead()).length === 1 &&
        (await herald.queue.status()).every((r) => r.kind !== 'ok'),
      5_000,
      'jobs done',
    );
    await worker.stop();
    const res = await app.request('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^herald_jobs_completed_total\{queue="default",kind="ok"\} 2$/m);
    assert.match(text, /^herald_jobs_dead_total\{queue="default",kind="bad"\} 1$/m);
    assert.match(text, /^herald_jobs\{queue="default",kind="waiting",status="queued"\} 1$/m);
    assert.match(text, /^herald_process_resident_memory_bytes \d+/m);
  });

  it('/ready answers 503 problem+json when the database is gone', async () => {
    const other = await openHerald('pglite');
    const otherApp = makeApp(other);
    await other.db.close();
    const res = await otherApp.request('/ready');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const body = (await res.json()) as { code: string; status: number };
    assert.equal(body.code, 'database_unreachable');
    assert.equal(body.status, 503);
  });
});
