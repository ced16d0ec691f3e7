/**
 * A Herald served over HTTP with a provider on every channel, each talking to its local
 * protocol server: SMTP (the sink process), Twilio SMS, the WhatsApp Cloud API, APNs over
 * HTTP/2 and TLS, FCM, a Web Push service, a signed-webhook receiver, Slack incoming webhooks,
 * and the in-app inbox. A worker and a scheduler run.
 *
 * Two recipients: `ada`, whom every channel reaches, and `bob`, whom every provider refuses,
 * quoting what it refused where the real service does (SMTP 550 with the address, Twilio and
 * WhatsApp 400 with the number). Requests go over real HTTP with a stored API key (`hk_…`),
 * the recipient's own with a JWT. The metrics (metrics-promtool.test.ts) and log-masking
 * (log-masking.test.ts) tests share it.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { exportPKCS8, generateKeyPair } from 'jose';
import { makeApnsSender } from '../../src/channels/push/apns.js';
import type { DeviceSender } from '../../src/channels/push/fanout.js';
import { makeFcmSender } from '../../src/channels/push/fcm.js';
import { generateVapidKeys, makeWebPushProvider } from '../../src/channels/push/webpush.js';
import { builtinHandlers } from '../../src/handlers.js';
import { serveHerald } from '../../src/http/server.js';
import type { Herald } from '../../src/index.js';
import { makeEgress } from '../../src/net/egress.js';
import type { NotificationDetail } from '../../src/notify/notifications.js';
import { makeLogger, type Logger } from '../../src/obs/log.js';
import { recipientToken, type Call } from './api.js';
import { startApnsServer } from './apns-server.js';
import { closeHerald, openHerald, type Backend } from './db.js';
import { startFcmServer } from './fcm-server.js';
import { triggerAndSettle } from './pipeline.js';
import { startPushService } from './push-service.js';
import { startSlackServer } from './slack-server.js';
import { startSmtpSink } from './smtp-sink.js';
import { startTwilioServer, twilioError } from './twilio-server.js';
import { startWebhookReceiver } from './webhook-receiver.js';
import { graphError, startWhatsappServer } from './whatsapp-server.js';

export const CHANNELS = ['email', 'sms', 'whatsapp', 'push', 'webhook', 'slack', 'inapp'] as const;

/** The type every trigger sends: one message on every channel. */
export const TYPE = 'invoice-due';
const everywhere = {
  channels: CHANNELS,
  templates: {
    email: { subject: 'Invoice {{n}} is due', text: 'Invoice {{n}} is due tomorrow.' },
    sms: { text: 'Invoice {{n}} is due tomorrow.' },
    whatsapp: { text: 'Invoice {{n}} is due tomorrow.' },
    push: { title: 'Invoice {{n}}', body: 'Due tomorrow' },
    webhook: { title: 'Invoice {{n}}', body: 'Due tomorrow' },
    slack: { text: 'Invoice {{n}} is due tomorrow.' },
    inapp: { title: 'Invoice {{n}}', body: 'Due tomorrow' },
  },
};

/** A recipient and every value of theirs the log must never show. */
export interface Person {
  id: string;
  email: string;
  phone: string;
  webhookUrl: string;
  slackWebhookUrl: string;
  /** APNs and FCM tokens; the Web Push endpoint and its keys. */
  deviceTokens: string[];
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const APNS = { teamId: 'TEAM123456', keyId: 'KEY1234567', topic: 'com.example.invoices' };
const FCM = { projectId: 'herald-obs', clientEmail: 'herald@herald-obs.iam.gserviceaccount.com' };

type Stops = (() => Promise<unknown>)[];

/** The local services, one per provider; each one's close is in `stops` once it runs. */
async function startServices(stops: Stops) {
  const started = async <T extends { close(): Promise<unknown> }>(service: Promise<T>) => {
    const one = await service;
    stops.push(() => one.close());
    return one;
  };
  const apnsKeys = await generateKeyPair('ES256', { extractable: true });
  const fcmKeys = await generateKeyPair('RS256', { extractable: true });
  return {
    sink: await started(startSmtpSink({ reject: /^refused\./ })),
    twilio: await started(startTwilioServer()),
    meta: await started(startWhatsappServer()),
    receiver: await started(startWebhookReceiver()),
    slack: await started(startSlackServer()),
    webPush: await started(startPushService()),
    apns: await started(startApnsServer({ ...APNS, publicKey: apnsKeys.publicKey })),
    apnsKey: await exportPKCS8(apnsKeys.privateKey),
    fcm: await started(startFcmServer({ ...FCM, publicKey: fcmKeys.publicKey })),
    fcmKey: await exportPKCS8(fcmKeys.privateKey),
    vapid: generateVapidKeys(),
  };
}
type Services = Awaited<ReturnType<typeof startServices>>;

/** The APNs, FCM and Web Push senders, pointed at the local services. */
function pushSenders(s: Services, log: Logger): DeviceSender[] {
  return [
    makeApnsSender({ ...APNS, key: s.apnsKey, url: s.apns.url, ca: s.apns.ca, log }),
    makeFcmSender({
      account: {
        project_id: FCM.projectId,
        private_key_id: 'key-1',
        private_key: s.fcmKey,
        client_email: FCM.clientEmail,
        token_uri: s.fcm.tokenUri,
      },
      url: s.fcm.url,
      log,
    }),
    makeWebPushProvider({
      vapidPublicKey: s.vapid.publicKey,
      vapidPrivateKey: s.vapid.privateKey,
      subject: 'mailto:ops@example.com',
      log,
      allowHttp: true,
      // The local push service is on loopback: allowed explicitly.
      egress: makeEgress({ allow: ['127.0.0.1/32'] }),
    }),
  ];
}

/**
 * Starts it all; `logger` receives every line (else nothing is logged). A set-up that fails half
 * way stops what it had started (else the test process could not exit).
 */
export async function startEveryChannel(backend: Backend, logger?: Logger) {
  const stops: Stops = [];
  const stop = async () => {
    for (const one of stops.splice(0).reverse()) await one();
  };
  try {
    return await start(backend, logger ?? makeLogger('silent'), stops, stop);
  } catch (err) {
    await stop();
    throw err;
  }
}

async function start(backend: Backend, log: Logger, stops: Stops, stop: () => Promise<void>) {
  const s = await startServices(stops);
  const herald: Herald = await openHerald(backend, {
    logger: log,
    jwtSecret: hex(32),
    smtpUrl: s.sink.url,
    twilioAccountSid: s.twilio.accountSid,
    twilioAuthToken: s.twilio.authToken,
    twilioFrom: '+15017122661',
    twilioUrl: s.twilio.url,
    whatsappToken: s.meta.token,
    whatsappPhoneNumberId: s.meta.phoneNumberId,
    whatsappUrl: s.meta.url,
    webhookSecret: hex(24),
    // The receivers run on loopback, which the egress guard refuses unless allowed.
    egressAllow: ['127.0.0.1/32'],
    delivery: { maxAttempts: 2 },
    backoff: { baseMs: 10, capMs: 20 },
    pushSenders: pushSenders(s, log),
  });
  stops.push(() => closeHerald(herald));
  const server = await serveHerald(herald, 0, '127.0.0.1');
  stops.push(() => server.close());
  const origin = `http://127.0.0.1:${server.port}`;
  const apiKey = (await herald.keys.create({ name: 'every-channel' })).key;
  const adminKey = (await herald.keys.create({ admin: true, name: 'every-channel-admin' })).key;
  await herald.worker({ handlers: builtinHandlers(herald), pollIntervalMs: 20 }).start();
  herald.scheduler({ intervalMs: 200 }).start();

  /** The HTTP API over the network, with the API key unless told another token. */
  const call: Call = (method, path, body, auth = apiKey) =>
    fetch(origin + path, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(auth === null ? {} : { authorization: `Bearer ${auth}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const put = async (path: string, body: unknown, auth?: string) => {
    const res = await call('PUT', path, body, auth);
    assert.ok(res.ok, `PUT ${path}: ${res.status} ${await res.clone().text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  await put(`/v1/types/${TYPE}`, everywhere);

  /** A recipient with an address on every channel and three devices. */
  async function enrol(id: string, devices: { apns: string; fcm: string }): Promise<Person> {
    const fields = {
      email: `${id === 'bob' ? 'refused.' : ''}${id}.lovelace@example.com`,
      phone: `+49151${randomInt(10_000_000, 100_000_000)}`,
      webhookUrl: s.receiver.url(`/hooks/${id}/${hex(12)}`),
      slackWebhookUrl: id === 'bob' ? s.slack.unknownHook() : s.slack.hook(),
    };
    await put(`/v1/recipients/${id}`, fields);
    for (const [kind, token] of Object.entries(devices)) {
      const res = await call('POST', `/v1/recipients/${id}/devices`, { kind, token });
      assert.equal(res.status, 201, await res.text());
    }
    // The devices API wants the https endpoints browsers give; the local service is http.
    const browser = s.webPush.subscribe(s.vapid.publicKey).subscription;
    await herald.db.query(
      `INSERT INTO "${herald.config.schema}".devices (recipient_id, kind, address, subscription)
       VALUES ($1, 'webpush', $2, $3::jsonb)`,
      [id, browser.endpoint, JSON.stringify(browser)],
    );
    const tokens = [devices.apns, devices.fcm, browser.endpoint, ...Object.values(browser.keys)];
    return { id, ...fields, deviceTokens: tokens };
  }

  const ada = await enrol('ada', {
    apns: hex(32),
    fcm: `fcm-${randomBytes(96).toString('base64url')}`,
  });
  // bob: APNs 400 BadDeviceToken, FCM 404 UNREGISTERED, Web Push 404 (helpers' conventions).
  const bob = await enrol('bob', { apns: `bad0${hex(30)}`, fcm: `fcm-unregistered-${hex(40)}` });
  s.webPush.answer(bob.deviceTokens[2]!, {
    status: 404,
    body: `no subscription ${bob.deviceTokens[2]}`,
  });
  // The receiver trusts ada's URL with the signing key the API gives for it; bob's gets 401.
  const { signingKey } = (await (
    await call('GET', '/v1/recipients/ada/webhook-signing-key')
  ).json()) as {
    signingKey: string;
  };
  s.receiver.trust(new URL(ada.webhookUrl).pathname, signingKey);
  // Twilio and Meta quote the number they refuse.
  s.twilio.script(bob.phone, twilioError(400, 21211, `Invalid 'To' Phone Number: ${bob.phone}`));
  s.meta.script(
    bob.phone.slice(1),
    graphError(400, 131026, `Message undeliverable to ${bob.phone.slice(1)}`),
  );

  return {
    herald,
    origin,
    call,
    apiKey,
    adminKey,
    signingKey,
    ada,
    bob,
    /** A JWT of the recipient `id`, as the app signs one. */
    token: (id: string) => recipientToken(id, herald.config.jwtSecret ?? ''),
    /** Triggers the type for `to` over HTTP; the notification once nothing is queued. */
    trigger: (to: string, data: Record<string, unknown> = { n: 7 }): Promise<NotificationDetail> =>
      triggerAndSettle(herald, call, { type: TYPE, to, data }, 20_000),
    close: stop,
  };
}

export type EveryChannel = Awaited<ReturnType<typeof startEveryChannel>>;
