/**
 * Cron expressions and local-time schedules across time zones: half-hour and 45-minute
 * offsets, DST in both hemispheres (and Lord Howe's 30-minute DST), the gap and overlap days,
 * a change of zone; parse errors name the field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextTick, parseCron, ticksBetween } from '../src/time/cron.js';
import { preferenceCron, RECIPES } from '../src/scheduler/local-schedules.js';
import { ValidationError } from '../src/errors.js';
import { toLocal } from '../src/time/zoned.js';

const at = (iso: string) => Date.parse(iso);
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const ticks = (cron: string, zone: string, from: string, to: string) =>
  ticksBetween(parseCron(cron), zone, at(from), at(to), 100).map(iso);

describe('cron: parsing', () => {
  it('reads lists, ranges, steps, names, macros and a seconds field', () => {
    const s = parseCron('0,30 8-10/2 * jan-mar mon-fri');
    assert.deepEqual(s.minutes, [0, 30]);
    assert.deepEqual(s.hours, [8, 10]);
    assert.deepEqual([...s.months], [1, 2, 3]);
    assert.deepEqual([...s.weekdays], [1, 2, 3, 4, 5]);
    assert.deepEqual(parseCron('@daily').hours, [0]);
    assert.deepEqual(parseCron('*/15 * * * * *').seconds, [0, 15, 30, 45]);
    assert.deepEqual([...parseCron('0 0 * * 7').weekdays], [0], 'day 7 is Sunday');
  });

  it('refuses bad expressions with a message naming the field', () => {
    for (const [bad, pattern] of [
      ['* * * *', /five fields/],
      ['61 * * * *', /minute: "61" is outside 0–59/],
      ['* 24 * * *', /hour/],
      ['* * 0 * *', /day of month/],
      ['* * * 13 *', /month/],
      ['* * * * 8', /day of week/],
      ['*/0 * * * *', /step/],
      ['a * * * *', /minute/],
      ['5-1 * * * *', /outside/],
    ] as const) {
      assert.throws(
        () => parseCron(bad),
        (err: unknown) => err instanceof ValidationError && pattern.test(err.message),
        bad,
      );
    }
  });
});

describe('cron: the next tick in a zone', () => {
  it('fires at the wall-clock time of zones with half-hour and 45-minute offsets', () => {
    const cases: [string, string][] = [
      ['Asia/Kolkata', '2026-06-01T02:30:00.000Z'], // +05:30
      ['Asia/Kathmandu', '2026-06-01T02:15:00.000Z'], // +05:45
      ['Australia/Eucla', '2026-05-31T23:15:00.000Z'], // +08:45
      ['Pacific/Chatham', '2026-05-31T19:15:00.000Z'], // +12:45 in (southern) winter
      ['America/St_Johns', '2026-06-01T10:30:00.000Z'], // -02:30 in summer
      ['Asia/Tehran', '2026-06-01T04:30:00.000Z'], // +03:30, no DST since 2022
      ['Pacific/Kiritimati', '2026-05-31T18:00:00.000Z'], // +14
      ['Pacific/Pago_Pago', '2026-05-31T19:00:00.000Z'], // -11
      ['UTC', '2026-06-01T08:00:00.000Z'],
    ];
    for (const [zone, expected] of cases) {
      assert.equal(
        iso(nextTick(parseCron('0 8 * * *'), zone, at('2026-05-31T12:00:00Z'))),
        expected,
        zone,
      );
    }
  });

  it('keeps the local time across DST in both hemispheres', () => {
    // Berlin (north): CET +1 in winter, CEST +2 in summer.
    assert.deepEqual(
      ticks('0 8 * * *', 'Europe/Berlin', '2026-03-28T00:00Z', '2026-03-30T00:00Z'),
      ['2026-03-28T07:00:00.000Z', '2026-03-29T06:00:00.000Z'],
    );
    // Sydney (south): AEDT +11 until the first Sunday of April, then AEST +10.
    assert.deepEqual(
      ticks('0 8 * * *', 'Australia/Sydney', '2026-04-03T00:00Z', '2026-04-06T00:00Z'),
      // 08:00 on the 5th is already AEST.
      ['2026-04-03T21:00:00.000Z', '2026-04-04T22:00:00.000Z', '2026-04-05T22:00:00.000Z'],
    );
    // Santiago (south): DST ends on the first Sunday of April (-03 → -04).
    assert.deepEqual(
      ticks('30 9 * * *', 'America/Santiago', '2026-04-04T00:00Z', '2026-04-06T00:00Z'),
      ['2026-04-04T12:30:00.000Z', '2026-04-05T13:30:00.000Z'],
    );
  });

  it('fires a time inside the spring-forward gap at the first instant after it', () => {
    // Berlin skips 02:00–03:00 on 2026-03-29: 02:30 fires at 03:00 CEST = 01:00Z.
    assert.deepEqual(
      ticks('30 2 * * *', 'Europe/Berlin', '2026-03-28T00:00Z', '2026-03-30T12:00Z'),
      ['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z'],
    );
    // New York skips 02:00–03:00 on 2026-03-08; every 15 minutes fires once at 03:00 EDT.
    assert.deepEqual(
      ticks('*/15 * * * *', 'America/New_York', '2026-03-08T06:30Z', '2026-03-08T07:20Z'),
      ['2026-03-08T06:45:00.000Z', '2026-03-08T07:00:00.000Z', '2026-03-08T07:15:00.000Z'],
    );
    // Lord Howe moves by 30 minutes (02:00 → 02:30 on 2026-10-04): 02:15 fires at 02:30.
    assert.deepEqual(
      ticks('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T12:00Z', '2026-10-04T12:00Z'),
      ['2026-10-03T15:30:00.000Z'],
    );
    assert.equal(toLocal(at('2026-10-03T15:30:00Z'), 'Australia/Lord_Howe').minute, 30);
  });

  it('fires a time that occurs twice once, at its first occurrence', () => {
    // New York repeats 01:00–02:00 on 2026-11-01 (EDT -4, then EST -5).
    assert.deepEqual(
      ticks('30 1 * * *', 'America/New_York', '2026-10-31T12:00Z', '2026-11-02T12:00Z'),
      ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'],
    );
    // Hourly: 01:00 once (EDT), then 02:00 EST; the repeated 01:00 EST is not a second run.
    assert.deepEqual(
      ticks('0 * * * *', 'America/New_York', '2026-11-01T03:30Z', '2026-11-01T08:30Z'),
      [
        '2026-11-01T04:00:00.000Z',
        '2026-11-01T05:00:00.000Z',
        '2026-11-01T07:00:00.000Z',
        '2026-11-01T08:00:00.000Z',
      ],
    );
    // Sydney repeats 02:00–03:00 on 2026-04-05.
    assert.deepEqual(
      ticks('30 2 * * *', 'Australia/Sydney', '2026-04-04T12:00Z', '2026-04-05T18:00Z'),
      // AEDT; the second 02:30 (16:30Z) is not a run.
      ['2026-04-04T15:30:00.000Z', '2026-04-05T16:30:00.000Z'],
    );
  });

  it('runs a daily time exactly once per local day over a year, in every kind of zone', () => {
    for (const zone of [
      'Europe/London',
      'America/Sao_Paulo',
      'Australia/Adelaide',
      'Asia/Kathmandu',
      'Pacific/Chatham',
    ]) {
      for (const time of ['00:30', '02:30', '08:00', '23:59']) {
        const [h, m] = time.split(':');
        const runs = ticksBetween(
          parseCron(`${m} ${h} * * *`),
          zone,
          at('2026-01-01T00:00Z'),
          at('2027-01-01T00:00Z'),
          400,
        );
        const days = runs.map((t) => {
          const l = toLocal(t, zone);
          return `${l.year}-${l.month}-${l.day}`;
        });
        assert.equal(new Set(days).size, days.length, `${zone} ${time}: one run a local day`);
        assert.ok(runs.length >= 364 && runs.length <= 366, `${zone} ${time}: ${runs.length} runs`);
        for (let i = 1; i < runs.length; i++)
          assert.ok((runs[i] as number) > (runs[i - 1] as number));
      }
    }
  });

  it('answers null for an expression that never fires', () => {
    assert.equal(nextTick(parseCron('0 0 31 2 *'), 'UTC', Date.now()), null);
  });
});

describe('local-time schedule preferences', () => {
  it('become cron expressions: daily, weekdays only, weekly on a day', () => {
    assert.equal(preferenceCron({ time: '08:00' }, {}), '0 8 * * *');
    assert.equal(preferenceCron({ time: '07:45', skipWeekends: true }, {}), '45 7 * * 1-5');
    assert.equal(preferenceCron({ time: '09:00', day: 'monday' }, {}), '0 9 * * 1');
    assert.equal(preferenceCron({ time: '09:00' }, RECIPES.weekly_summary ?? {}), '0 9 * * 1');
  });

  it('skip weekends in the recipient zone, not in UTC', () => {
    // Friday 2026-06-05 07:30 in Auckland is Thursday in UTC; Saturday's is skipped.
    const runs = ticks(
      preferenceCron({ time: '07:30', skipWeekends: true }, {}),
      'Pacific/Auckland',
      '2026-06-04T00:00Z',
      '2026-06-08T00:00Z',
    );
    assert.deepEqual(
      runs.map((r) => toLocal(Date.parse(r as string), 'Pacific/Auckland').weekday),
      [5, 1],
    );
  });
});
