/**
 * Apple Push Notification service: the push sender for `apns` devices, over HTTP/2 with
 * token-based auth.
 *
 * - One HTTP/2 connection per process, opened on first use and again after it closes or the
 *   server sends GOAWAY; streams are multiplexed on it.
 * - The provider token is an ES256 JWT (`iss` team id, `iat`; header `kid` key id) signed with
 *   the .p8 key, reused for 50 minutes (Apple refuses tokens older than an hour and too-frequent
 *   new ones), and made anew after `ExpiredProviderToken`.
 * - Headers: `apns-topic` (the app's bundle id), `apns-push-type: alert`, `apns-priority` (10,
 *   or 5 for low priority), `apns-expiration`, `apns-collapse-id` when given, and `apns-id` (the
 *   delivery id as a UUID, so Apple's id for the push is ours).
 *
 * Errors, classified in `classifyApns` (Apple's `reason` strings): 410 Unregistered and
 * BadDeviceToken / DeviceTokenNotForTopic → permanent, `gone`; 429 TooManyRequests → rate
 * limited; 403 ExpiredProviderToken / InvalidProviderToken → transient after a new token;
 * 500 / 503 and connection errors → transient; other 4xx → permanent.
 */
import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';
import { HeraldError } from '../../errors.js';
import type { Logger } from '../../obs/log.js';
import { ProviderError } from '../provider.js';
import type { DeviceSender } from './fanout.js';

export const APNS_PRODUCTION = 'https://api.push.apple.com';
export const APNS_SANDBOX = 'https://api.sandbox.push.apple.com';
const TOKEN_REUSE_MS = 50 * 60_000;
const TIMEOUT_MS = 15_000;

export interface ApnsOptions {
  /** The .p8 key's PEM text. */
  key: string;
  keyId: string;
  teamId: string;
  /** The app's bundle id. */
  topic: string;
  /** Default production. */
  url?: string;
  /** Extra trusted CA (tests); production uses Node's trust store and NODE_EXTRA_CA_CERTS. */
  ca?: string;
  log: Logger;
}

const GONE = new Set(['Unregistered', 'BadDeviceToken', 'DeviceTokenNotForTopic']);

/** One place that says what an APNs answer means. */
export function classifyApns(status: number, reason: string | undefined): ProviderError {
  const message = `APNs ${status}${reason ? ` ${reason}` : ''}`;
  if (status === 410 || (reason && GONE.has(reason)))
    return new ProviderError('permanent', message, undefined, 'gone');
  if (status === 429) return new ProviderError('rate_limited', message, 1_000, reason);
  if (reason === 'ExpiredProviderToken' || reason === 'InvalidProviderToken' || status >= 500)
    return new ProviderError('transient', message, undefined, reason);
  return new ProviderError('permanent', message, undefined, reason);
}

/** A deterministic UUID from a delivery id (already a UUID) for the apns-id header. */
const apnsId = (deliveryId: string) =>
  /^[0-9a-f-]{36}$/i.test(deliveryId) ? deliveryId.toUpperCase() : undefined;

export function makeApnsSender(options: ApnsOptions): DeviceSender {
  const { log } = options;
  const url = options.url ?? APNS_PRODUCTION;
  const key = importPKCS8(options.key, 'ES256');
  key.catch(() => undefined); // reported on first use
  let token: { jwt: Promise<string>; at: number } | undefined;
  let session: ClientHttp2Session | undefined;

  /** The provider token, made once for every send waiting on it (Apple refuses frequent new ones). */
  function providerToken(): Promise<string> {
    if (token && Date.now() - token.at < TOKEN_REUSE_MS) return token.jwt;
    const made = (async () =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256', kid: options.keyId })
        .setIssuer(options.teamId)
        .setIssuedAt()
        .sign(await key))();
    token = { jwt: made, at: Date.now() };
    made.catch(() => (token = undefined));
    return made;
  }

  function connection(): ClientHttp2Session {
    if (session && !session.closed && !session.destroyed) return session;
    const s = connect(url, options.ca ? { ca: options.ca } : {});
    s.on('error', (err: Error) => log.warn({ err: err.message }, 'apns:connection-error'));
    s.on('goaway', () => s.close());
    s.on('close', () => {
      if (session === s) session = undefined;
    });
    s.unref();
    session = s;
    return s;
  }

  return {
    kind: 'apns',
    name: 'apns',
    async send(device, { content, deliveryId, priority, collapseId }, signal) {
      const jwt = await providerToken();
      const body = JSON.stringify({
        aps: { alert: { title: content.title ?? '', body: content.body ?? '' }, sound: 'default' },
      });
      const id = apnsId(deliveryId);
      const headers = {
        [constants.HTTP2_HEADER_METHOD]: 'POST',
        [constants.HTTP2_HEADER_PATH]: `/3/device/${device.address}`,
        authorization: `bearer ${jwt}`,
        'apns-topic': options.topic,
        'apns-push-type': 'alert',
        'apns-priority': priority === 'low' ? '5' : '10',
        'apns-expiration': String(Math.floor(Date.now() / 1000) + 24 * 3600),
        ...(collapseId ? { 'apns-collapse-id': collapseId } : {}),
        ...(id ? { 'apns-id': id } : {}),
        'content-type': 'application/json',
      };
      const answer = await new Promise<{ status: number; apnsId?: string; text: string }>(
        (resolve, reject) => {
          let req;
          try {
            req = connection().request(headers);
          } catch (err) {
            reject(new ProviderError('transient', `APNs unreachable: ${(err as Error).message}`));
            return;
          }
          const timer = setTimeout(() => req.close(constants.NGHTTP2_CANCEL), TIMEOUT_MS);
          const onAbort = () => req.close(constants.NGHTTP2_CANCEL);
          signal?.addEventListener('abort', onAbort, { once: true });
          let status = 0;
          let returnedId: string | undefined;
          let text = '';
          req.on('response', (h) => {
            status = Number(h[constants.HTTP2_HEADER_STATUS]);
            returnedId = h['apns-id'] as string | undefined;
          });
          req.setEncoding('utf8');
          req.on('data', (chunk: string) => (text += chunk));
          req.on('end', () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', onAbort);
            resolve({ status, ...(returnedId ? { apnsId: returnedId } : {}), text });
          });
          req.on('error', (err: Error) => {
            clearTimeout(timer);
            reject(new ProviderError('transient', `APNs request failed: ${err.message}`));
          });
          req.end(body);
        },
      );
      if (answer.status === 200) return { messageId: answer.apnsId ?? id ?? '' };
      let reason: string | undefined;
      try {
        reason = (JSON.parse(answer.text) as { reason?: string }).reason;
      } catch {
        reason = undefined;
      }
      if (reason === 'ExpiredProviderToken' || reason === 'InvalidProviderToken') token = undefined;
      throw classifyApns(answer.status, reason);
    },
    close() {
      session?.close();
      return Promise.resolve();
    },
  };
}

/** The APNs sender when its settings are there (HERALD_APNS_*), else undefined. */
export function apnsFromConfig(
  config: {
    apnsKey?: string | undefined;
    apnsKeyId?: string | undefined;
    apnsTeamId?: string | undefined;
    apnsTopic?: string | undefined;
    apnsUrl?: string | undefined;
  },
  log: Logger,
): DeviceSender | undefined {
  const { apnsKey, apnsKeyId, apnsTeamId, apnsTopic } = config;
  if (!apnsKey) return undefined;
  if (!apnsKeyId || !apnsTeamId || !apnsTopic) {
    throw new HeraldError(
      'config_invalid',
      'APNs needs HERALD_APNS_KEY, HERALD_APNS_KEY_ID, HERALD_APNS_TEAM_ID and HERALD_APNS_TOPIC together',
    );
  }
  let pem = apnsKey;
  if (!pem.includes('-----BEGIN')) {
    try {
      pem = readFileSync(apnsKey, 'utf8');
    } catch (err) {
      throw new HeraldError(
        'config_invalid',
        `HERALD_APNS_KEY: cannot read ${apnsKey}: ${(err as Error).message}`,
      );
    }
  }
  const url = config.apnsUrl === 'sandbox' ? APNS_SANDBOX : (config.apnsUrl ?? APNS_PRODUCTION);
  return makeApnsSender({
    key: pem,
    keyId: apnsKeyId,
    teamId: apnsTeamId,
    topic: apnsTopic,
    url,
    log,
  });
}
