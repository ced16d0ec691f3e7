/** Pure rules: backoff bounds, payload validation, configuration resolution. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { backoffCeiling, backoffDelay } from '../src/queue/backoff.js';
import { toJobRow } from '../src/queue/validate.js';
import { resolveConfig } from '../src/config.js';
import { HeraldError, ValidationError } from '../src/errors.js';

describe('backoff', () => {
  it('full jitter stays within [0, min(cap, base·2^(n-1))] for every attempt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 10_000_000 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (attempt, baseMs, capMs, r) => {
          const d = backoffDelay(attempt, { baseMs, capMs }, () => r);
          const ceiling = Math.min(capMs, baseMs * 2 ** (attempt - 1));
          return Number.isInteger(d) && d >= 0 && d <= ceiling;
        },
      ),
    );
  });

  it('grows exponentially up to the cap', () => {
    const o = { baseMs: 1_000, capMs: 10_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 60].map((n) => backoffCeiling(n, o)),
      [1_000, 2_000, 4_000, 8_000, 10_000, 10_000],
    );
  });
});

describe('job validation', () => {
  it('accepts every JSON value and keeps it unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (payload) => {
        const row = toJobRow({ kind: 'k', payload }, 10_000_000);
        // -0 becomes 0 in JSON; otherwise the value survives the trip.
        assert.deepEqual(JSON.parse(row.payload), JSON.parse(JSON.stringify(payload)));
      }),
    );
  });

  it('reports every bad field at once', () => {
    assert.throws(
      () => toJobRow({ kind: '', delayMs: -5, maxAttempts: 0, priority: 1.5 }, 1000),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.issues
          .map((i) => i.field)
          .sort()
          .join() === 'delayMs,kind,maxAttempts,priority',
    );
  });
});

describe('configuration', () => {
  it('flags win over environment, environment over defaults', () => {
    const c = resolveConfig({
      env: { HERALD_PORT: '9000', HERALD_CONCURRENCY: '4' },
      flags: { port: 9100 },
      noFile: true,
    });
    assert.equal(c.port, 9100);
    assert.equal(c.worker.concurrency, 4);
    assert.equal(c.worker.leaseMs, 30_000);
    assert.equal(c.dataDir, './.herald');
  });

  it('a bad setting names the setting and its environment variable', () => {
    assert.throws(
      () =>
        resolveConfig({
          env: { HERALD_LEASE_MS: '-1', HERALD_SCHEMA: 'Robert"); DROP' },
          noFile: true,
        }),
      (e: unknown) =>
        e instanceof HeraldError &&
        e.code === 'config_invalid' &&
        /worker\.leaseMs \(HERALD_LEASE_MS\)/.test(e.message) &&
        /schema \(HERALD_SCHEMA\)/.test(e.message),
    );
  });
});
