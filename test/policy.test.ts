/**
 * The send-time rules (notify/policy.ts) one by one, and quiet hours across midnight and
 * across DST changes (time/zoned.ts), with fixed instants rather than the clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, type RecipientFacts } from '../src/notify/policy.js';
import { fromLocal, quietHoursEnd, toLocal } from '../src/time/zoned.js';
import type { Channel } from '../src/notify/types.js';

const at = Date.parse('2026-06-10T12:00:00Z');
const facts = (over: Partial<RecipientFacts> = {}): RecipientFacts => ({
  email: 'a@example.com',
  phone: '+4915112345678',
  timezone: 'Europe/Berlin',
  devices: 1,
  preferences: null,
  ...over,
});
type Kind = { name: string; category: 'transactional' | 'marketing' };
const tx: Kind = { name: 'due', category: 'transactional' };
const mk: Kind = { name: 'promo', category: 'marketing' };
const all = (_channel: Channel) => true;
const skip = (f: RecipientFacts, channel: Channel, type = tx, has = all) =>
  decide(f, type, 'normal', channel, at, has).skip;

describe('send-time rules', () => {
  it('sends by default on every channel that has an address and a provider', () => {
    for (const c of ['email', 'sms', 'whatsapp', 'push', 'inapp'] as const) {
      assert.deepEqual(decide(facts(), tx, 'normal', c, at, all), {
        runAt: at,
        deferredByQuietHours: false,
      });
    }
  });

  it('skips a switched-off channel', () => {
    const f = facts({ preferences: { channels: { email: false } } });
    assert.equal(skip(f, 'email'), 'channel_disabled');
    assert.equal(skip(f, 'inapp'), undefined);
  });

  it('skips a type switched off, whole or for one channel', () => {
    assert.equal(skip(facts({ preferences: { types: { due: false } } }), 'inapp'), 'opted_out');
    const perChannel = facts({ preferences: { types: { due: { email: false } } } });
    assert.equal(skip(perChannel, 'email'), 'opted_out');
    assert.equal(skip(perChannel, 'push'), undefined);
    assert.equal(skip(facts({ preferences: { types: { other: false } } }), 'email'), undefined);
  });

  it('needs consent for marketing, not for transactional', () => {
    assert.equal(skip(facts(), 'email', mk), 'no_consent');
    assert.equal(
      skip(facts({ preferences: { consent: { marketing: false } } }), 'email', mk),
      'no_consent',
    );
    assert.equal(
      skip(facts({ preferences: { consent: { marketing: true } } }), 'email', mk),
      undefined,
    );
    assert.equal(skip(facts(), 'email', tx), undefined);
  });

  it('skips a channel without an address', () => {
    assert.equal(skip(facts({ email: null }), 'email'), 'no_address');
    assert.equal(skip(facts({ phone: null }), 'sms'), 'no_address');
    assert.equal(skip(facts({ phone: null }), 'whatsapp'), 'no_address');
    assert.equal(skip(facts({ devices: 0 }), 'push'), 'no_address');
    assert.equal(skip(facts({ email: null, phone: null, devices: 0 }), 'inapp'), undefined);
  });

  it('webhook and slack need the recipient’s URL or the type’s', () => {
    const hook = { url: 'https://hooks.example.com/h' };
    for (const c of ['webhook', 'slack'] as const) {
      assert.equal(skip(facts(), c), 'no_address');
      assert.equal(skip(facts(), c, { ...tx, [c]: hook }), undefined);
    }
    assert.equal(skip(facts({ webhookUrl: hook.url }), 'webhook'), undefined);
    assert.equal(skip(facts({ webhookUrl: hook.url }), 'slack'), 'no_address');
    assert.equal(skip(facts({ slackWebhookUrl: hook.url }), 'slack'), undefined);
  });

  it('skips a suppressed address after the recipient’s choices, before no_address and no_provider', () => {
    const sup = facts({ suppressed: { email: true, sms: true } });
    assert.equal(skip(sup, 'email'), 'suppressed');
    assert.equal(
      skip(sup, 'sms', tx, () => false),
      'suppressed',
    );
    assert.equal(skip(sup, 'whatsapp'), undefined);
    assert.equal(skip(sup, 'inapp'), undefined);
    assert.equal(skip(facts({ suppressed: { email: false } }), 'email'), undefined);
    const off = facts({ suppressed: { email: true }, preferences: { channels: { email: false } } });
    assert.equal(skip(off, 'email'), 'channel_disabled');
    assert.equal(skip(sup, 'email', mk), 'no_consent');
  });

  it('skips a channel with no provider configured', () => {
    assert.equal(
      skip(facts(), 'sms', tx, (c) => c !== 'sms'),
      'no_provider',
    );
  });

  it('gives the first reason a person would: consent before opt-out before channel', () => {
    const f = facts({
      email: null,
      preferences: { channels: { email: false }, types: { promo: false } },
    });
    assert.equal(skip(f, 'email', mk), 'no_consent');
    assert.equal(
      skip({ ...f, preferences: { ...f.preferences, consent: { marketing: true } } }, 'email', mk),
      'opted_out',
    );
  });

  it('defers to the end of quiet hours in the recipient zone; urgent and inapp pass', () => {
    // 23:30 in Berlin (CEST, UTC+2) on 10 June; quiet 22:00–07:30 crosses midnight.
    const late = Date.parse('2026-06-10T21:30:00Z');
    const f = facts({ preferences: { quietHours: { start: '22:00', end: '07:30' } } });
    const morning = Date.parse('2026-06-11T05:30:00Z');
    assert.deepEqual(decide(f, tx, 'normal', 'email', late, all), {
      runAt: morning,
      deferredByQuietHours: true,
    });
    assert.deepEqual(decide(f, tx, 'urgent', 'email', late, all), {
      runAt: late,
      deferredByQuietHours: false,
    });
    assert.deepEqual(decide(f, tx, 'normal', 'inapp', late, all), {
      runAt: late,
      deferredByQuietHours: false,
    });
    // The preferences' own zone wins over the recipient's.
    const newYork = facts({
      preferences: { quietHours: { start: '22:00', end: '07:30' }, timezone: 'America/New_York' },
    });
    assert.deepEqual(decide(newYork, tx, 'normal', 'email', late, all), {
      runAt: late,
      deferredByQuietHours: false,
    });
  });
});

describe('quiet hours', () => {
  const q = { start: '22:00', end: '07:30' };
  const zone = 'Europe/Berlin';
  it('cover both sides of midnight and nothing else', () => {
    const local = (d: number, h: number, m: number) =>
      fromLocal({ year: 2026, month: 6, day: d, hour: h, minute: m }, zone);
    assert.equal(quietHoursEnd(local(10, 21, 59), q, zone), null);
    assert.equal(quietHoursEnd(local(10, 22, 0), q, zone), local(11, 7, 30));
    assert.equal(quietHoursEnd(local(11, 3, 0), q, zone), local(11, 7, 30));
    assert.equal(quietHoursEnd(local(11, 7, 29), q, zone), local(11, 7, 30));
    assert.equal(quietHoursEnd(local(11, 7, 30), q, zone), null);
  });

  it('within one day when start is before end', () => {
    const day = { start: '12:00', end: '14:00' };
    const t = fromLocal({ year: 2026, month: 6, day: 10, hour: 13, minute: 0 }, zone);
    assert.equal(
      quietHoursEnd(t, day, zone),
      fromLocal({ year: 2026, month: 6, day: 10, hour: 14, minute: 0 }, zone),
    );
    assert.equal(quietHoursEnd(t, { start: '14:00', end: '12:00' }, zone), null);
  });

  it('end at the right instant across the autumn DST change (a 25-hour day)', () => {
    // Berlin falls back on 25 Oct 2026 03:00 CEST -> 02:00 CET: 07:30 that morning is 06:30Z.
    const evening = Date.parse('2026-10-24T20:30:00Z'); // 22:30 CEST
    assert.equal(
      new Date(quietHoursEnd(evening, q, zone)!).toISOString(),
      '2026-10-25T06:30:00.000Z',
    );
  });

  it('end at the right instant across the spring DST change, and inside the gap', () => {
    // Berlin springs forward on 29 Mar 2026 02:00 CET -> 03:00 CEST: 07:30 is 05:30Z.
    const evening = Date.parse('2026-03-28T21:30:00Z'); // 22:30 CET
    assert.equal(
      new Date(quietHoursEnd(evening, q, zone)!).toISOString(),
      '2026-03-29T05:30:00.000Z',
    );
    // Quiet hours ending at 02:30, a time that does not exist that night: they end at 03:00 CEST.
    const gap = quietHoursEnd(evening, { start: '22:00', end: '02:30' }, zone);
    assert.equal(new Date(gap!).toISOString(), '2026-03-29T01:00:00.000Z');
  });

  it('in the southern hemisphere and with 45-minute offsets', () => {
    // Sydney leaves DST on 5 Apr 2026 (03:00 AEDT -> 02:00 AEST); 07:30 AEST is 21:30Z.
    const sydney = Date.parse('2026-04-04T12:00:00Z'); // 23:00 AEDT
    assert.equal(
      new Date(quietHoursEnd(sydney, q, 'Australia/Sydney')!).toISOString(),
      '2026-04-04T21:30:00.000Z',
    );
    const kathmandu = Date.parse('2026-06-10T17:00:00Z'); // 22:45 NPT (UTC+5:45)
    assert.equal(
      new Date(quietHoursEnd(kathmandu, q, 'Asia/Kathmandu')!).toISOString(),
      '2026-06-11T01:45:00.000Z',
    );
  });
});

describe('local time', () => {
  it('maps an overlap to its first occurrence and a gap to the first instant after it', () => {
    const z = 'America/New_York';
    const overlap = fromLocal({ year: 2026, month: 11, day: 1, hour: 1, minute: 30 }, z);
    assert.equal(new Date(overlap).toISOString(), '2026-11-01T05:30:00.000Z'); // EDT, the first
    const gap = fromLocal({ year: 2026, month: 3, day: 8, hour: 2, minute: 30 }, z);
    assert.equal(new Date(gap).toISOString(), '2026-03-08T07:00:00.000Z'); // 03:00 EDT
    assert.deepEqual(toLocal(gap, z), {
      year: 2026,
      month: 3,
      day: 8,
      hour: 3,
      minute: 0,
      weekday: 0,
    });
  });
});
