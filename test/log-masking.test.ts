/**
 * No personal data or secret in the log, on any channel: a Herald logging at `debug` into a
 * captured pino destination sends to a recipient on every channel (helpers/every-channel.ts)
 * and to one every provider refuses, quoting what it refused (SMTP 550 with the address,
 * Twilio and WhatsApp 400 with the number); the API is called over HTTP with a stored API key
 * and the inbox with the recipient's JWT (REST and WebSocket). Then every captured line is
 * searched for each recipient's email, phone, device tokens and Web Push keys, webhook and
 * Slack URL paths, the JWT, the API keys, the webhook signing key and the configured secrets.
 *
 * Redaction is obs/redact.ts, applied by the logger (obs/log.ts) and where errors are stored:
 * with it switched off this test fails (the refusals quote addresses and numbers).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { makeLogger } from '../src/obs/log.js';
import { providerBackends, waitFor } from './helpers/db.js';
import {
  CHANNELS,
  startEveryChannel,
  type EveryChannel,
  type Person,
} from './helpers/every-channel.js';

const [backend] = await providerBackends();

/** Every value of a recipient's that must not be logged, by what it is. */
function personal(p: Person): [string, string][] {
  const path = (url: string) => new URL(url).pathname;
  return [
    [`${p.id}'s email`, p.email],
    [`${p.id}'s phone`, p.phone],
    [`${p.id}'s phone without +`, p.phone.slice(1)],
    [`${p.id}'s webhook URL path`, path(p.webhookUrl)],
    [`${p.id}'s Slack URL path`, path(p.slackWebhookUrl)],
    ...p.deviceTokens.map((t, i): [string, string] => [
      `${p.id}'s device token ${i}`,
      t.startsWith('http') ? path(t) : t,
    ]),
  ];
}

describe(`log masking on every channel (${backend})`, () => {
  const lines: string[] = [];
  let h: EveryChannel;
  let jwt = '';

  before(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    h = await startEveryChannel(backend ?? 'pglite', makeLogger('debug', destination));
    const [ada, bob] = await Promise.all([h.trigger('ada'), h.trigger('bob')]);
    for (const d of ada.deliveries) assert.equal(d.status, 'sent', `ada ${d.channel}: ${d.error}`);
    for (const d of bob.deliveries)
      assert.equal(d.status, d.channel === 'inapp' ? 'sent' : 'failed', `bob ${d.channel}`);

    // The recipient's own calls with their JWT: the inbox over REST, and the real-time socket.
    jwt = await h.token('ada');
    const inbox = await h.call('GET', '/v1/me/notifications', undefined, jwt);
    assert.equal(inbox.status, 200);
    const ws = new WebSocket(`${h.origin.replace('http', 'ws')}/v1/me/ws`, [
      'herald.v1',
      `bearer.${jwt}`,
    ]);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.close();
    // A token that does not verify, and a key that does not exist, are refused.
    const forged = `${jwt.slice(0, -4)}AAAA`;
    assert.equal((await h.call('GET', '/v1/me/notifications', undefined, forged)).status, 401);
    assert.equal((await h.call('GET', '/v1/types', undefined, `${h.apiKey}x`)).status, 401);
    await waitFor(() => lines.some((l) => l.includes('"level":20')), 10_000, 'debug lines');
  });
  after(() => h?.close());

  it('logs what happened at debug, the refusals included', () => {
    const text = lines.join('\n');
    // The providers' answers reached the log, masked: the search below means something.
    assert.match(text, /"msg":"smtp:sent"/);
    const failed = lines
      .map((l) => JSON.parse(l) as { msg: string; channel?: string; err?: string })
      .filter((l) => l.msg === 'delivery:failed');
    assert.deepEqual(
      failed.map((l) => l.channel).sort(),
      CHANNELS.filter((c) => c !== 'inapp').sort(),
      "a delivery:failed line for each of bob's channels",
    );
    const smtp = failed.find((l) => l.channel === 'email')?.err ?? '';
    assert.match(smtp, /550 5\.1\.1 <\[(redacted|email)\]>/, 'the refusal is kept, masked');
    const sms = failed.find((l) => l.channel === 'sms')?.err ?? '';
    assert.match(sms, /21211.*\[(redacted|phone)\]/, 'the refusal is kept, masked');
  });

  it('never shows an address, number, token, URL path, JWT, API key or secret', () => {
    const c = h.herald.config;
    const secrets: [string, string][] = [
      ...personal(h.ada),
      ...personal(h.bob),
      ['the recipient JWT', jwt],
      ["the JWT's payload", jwt.split('.')[1] ?? jwt],
      ['the API key', h.apiKey],
      ['the admin API key', h.adminKey],
      ['the webhook signing key', h.signingKey],
      ['the JWT secret', c.jwtSecret ?? ''],
      ['the webhook secret', c.webhookSecret ?? ''],
      ['the Twilio auth token', c.twilioAuthToken ?? ''],
      ['the WhatsApp token', c.whatsappToken ?? ''],
    ];
    const leaks = secrets.flatMap(([what, value]) => {
      assert.ok(value.length >= 8, `${what} is a real value`);
      const line = lines.find((l) => l.toLowerCase().includes(value.toLowerCase()));
      return line ? [`${what} in: ${line}`] : [];
    });
    assert.deepEqual(leaks, []);
  });
});
