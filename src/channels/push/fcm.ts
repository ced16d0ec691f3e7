/**
 * Firebase Cloud Messaging, HTTP v1 API: the push sender for `fcm` devices.
 *
 * Auth is a Google service account: Herald signs a JWT assertion (RS256, the account's private
 * key) and exchanges it at the account's `token_uri` for an OAuth access token, cached until a
 * minute before it expires and fetched once however many sends wait for it. A 401 drops the
 * cached token, so the retry gets a fresh one.
 *
 * Send: POST {url}/v1/projects/{project_id}/messages:send with `{message: {token,
 * notification: {title, body}}}`; the answer's `name` is the message id.
 *
 * Errors, classified in `classifyFcm` (the codes of FCM's ErrorCode and google.rpc status):
 * UNREGISTERED (404) and SENDER_ID_MISMATCH (403): the token is dead → permanent, `gone`;
 * INVALID_ARGUMENT (400): permanent; QUOTA_EXCEEDED (429): rate limited, Retry-After;
 * UNAVAILABLE (503), INTERNAL (500), timeouts and network errors: transient; UNAUTHENTICATED
 * (401): transient after dropping the token; other 4xx: permanent.
 */
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';
import { HeraldError } from '../../errors.js';
import type { Logger } from '../../obs/log.js';
import { ProviderError } from '../provider.js';
import { retryAfterMs } from '../http.js';
import type { DeviceSender } from './fanout.js';

export interface ServiceAccount {
  project_id: string;
  private_key_id?: string;
  private_key: string;
  client_email: string;
  token_uri: string;
}

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const TIMEOUT_MS = 15_000;

/** The service account from JSON text or a path to the JSON file. */
export function readServiceAccount(textOrPath: string): ServiceAccount {
  let text = textOrPath.trim();
  if (!text.startsWith('{')) {
    try {
      text = readFileSync(text, 'utf8');
    } catch (err) {
      throw new HeraldError(
        'config_invalid',
        `HERALD_FCM_SERVICE_ACCOUNT: cannot read ${textOrPath}: ${(err as Error).message}`,
      );
    }
  }
  let parsed: Partial<ServiceAccount>;
  try {
    parsed = JSON.parse(text) as Partial<ServiceAccount>;
  } catch {
    throw new HeraldError('config_invalid', 'HERALD_FCM_SERVICE_ACCOUNT is not JSON');
  }
  for (const field of ['project_id', 'private_key', 'client_email', 'token_uri'] as const) {
    if (typeof parsed[field] !== 'string' || parsed[field] === '') {
      throw new HeraldError(
        'config_invalid',
        `HERALD_FCM_SERVICE_ACCOUNT has no ${field}: download the key from Firebase console → Project settings → Service accounts`,
      );
    }
  }
  return parsed as ServiceAccount;
}

export interface FcmOptions {
  account: ServiceAccount;
  /** Default https://fcm.googleapis.com. */
  url?: string;
  log: Logger;
}

interface FcmErrorBody {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    details?: { '@type'?: string; errorCode?: string }[];
  };
}

/** One place that says what an FCM answer means. */
export function classifyFcm(status: number, body: FcmErrorBody, retryAfter: string | null) {
  const fcmCode =
    body.error?.details?.find((d) => d.errorCode)?.errorCode ??
    body.error?.status ??
    `HTTP ${status}`;
  const message = `FCM ${status} ${fcmCode}: ${body.error?.message ?? 'no message'}`;
  if (fcmCode === 'UNREGISTERED' || fcmCode === 'SENDER_ID_MISMATCH' || status === 404)
    return new ProviderError('permanent', message, undefined, 'gone');
  if (status === 429 || fcmCode === 'QUOTA_EXCEEDED')
    return new ProviderError('rate_limited', message, retryAfterMs(retryAfter, 60_000), fcmCode);
  if (status === 401 || status === 408 || status >= 500)
    return new ProviderError('transient', message, undefined, fcmCode);
  return new ProviderError('permanent', message, undefined, fcmCode);
}

export function makeFcmSender(options: FcmOptions): DeviceSender {
  const { account, log } = options;
  const base = (options.url ?? 'https://fcm.googleapis.com').replace(/\/$/, '');
  const key = importPKCS8(account.private_key, 'RS256');
  key.catch(() => undefined); // reported on first use
  let cached: { token: string; until: number } | undefined;
  let pending: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ scope: SCOPE })
      .setProtectedHeader({
        alg: 'RS256',
        typ: 'JWT',
        ...(account.private_key_id ? { kid: account.private_key_id } : {}),
      })
      .setIssuer(account.client_email)
      .setAudience(account.token_uri)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(await key);
    let res: Response;
    try {
      res = await fetch(account.token_uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion,
        }).toString(),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new ProviderError(
        'transient',
        `FCM token endpoint unreachable: ${(err as Error).message}`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
      error_description?: string;
    };
    if (!res.ok || !body.access_token) {
      const why =
        `FCM token exchange ${res.status}: ${body.error ?? ''} ${body.error_description ?? ''}`.trim();
      // A refused service account will be refused again: fix the key, then retry.
      throw new ProviderError(
        res.status >= 500 ? 'transient' : 'permanent',
        why,
        undefined,
        body.error,
      );
    }
    cached = {
      token: body.access_token,
      until: Date.now() + ((body.expires_in ?? 3600) - 60) * 1000,
    };
    log.debug({ expiresIn: body.expires_in }, 'fcm:token');
    return body.access_token;
  }

  /** The cached token, or one fetch shared by every send that waits for it. */
  function token(): Promise<string> {
    if (cached && cached.until > Date.now()) return Promise.resolve(cached.token);
    pending ??= fetchToken().finally(() => (pending = undefined));
    return pending;
  }

  return {
    kind: 'fcm',
    name: 'fcm',
    async send(device, { content, priority }, signal) {
      const bearer = await token();
      let res: Response;
      try {
        res = await fetch(
          `${base}/v1/projects/${encodeURIComponent(account.project_id)}/messages:send`,
          {
            method: 'POST',
            headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              message: {
                token: device.address,
                notification: { title: content.title ?? '', body: content.body ?? '' },
                // Android delivers high-priority messages at once, waking the device.
                ...(priority === 'high' || priority === 'urgent'
                  ? { android: { priority: 'HIGH' } }
                  : {}),
              },
            }),
            signal: signal
              ? AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)])
              : AbortSignal.timeout(TIMEOUT_MS),
          },
        );
      } catch (err) {
        throw new ProviderError('transient', `FCM unreachable: ${(err as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as FcmErrorBody & { name?: string };
      if (res.ok && body.name) return { messageId: body.name };
      if (res.status === 401) cached = undefined;
      throw classifyFcm(res.status, body, res.headers.get('retry-after'));
    },
  };
}

/** The FCM sender when `fcmServiceAccount` is set (HERALD_FCM_SERVICE_ACCOUNT), else undefined. */
export function fcmFromConfig(
  config: { fcmServiceAccount?: string | undefined; fcmUrl?: string | undefined },
  log: Logger,
): DeviceSender | undefined {
  if (!config.fcmServiceAccount) return undefined;
  return makeFcmSender({
    account: readServiceAccount(config.fcmServiceAccount),
    ...(config.fcmUrl ? { url: config.fcmUrl } : {}),
    log,
  });
}
