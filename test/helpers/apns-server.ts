/**
 * A local APNs: HTTP/2 over TLS (a certificate made for 127.0.0.1 at start, with openssl),
 * checking what Apple checks: the ES256 provider token (signature with the team's key, `kid`,
 * `iss`, age under an hour), `apns-topic`, `apns-push-type`, the device path and the payload;
 * answering as Apple documents: 200 with `apns-id`, or `{reason}` with its status.
 *
 * Device tokens choose a behaviour by their first hex digits: `dead…` 410 Unregistered,
 * `bad0…` 400 BadDeviceToken, `c0de…` 429 TooManyRequests, `fa11…` 503 ServiceUnavailable.
 */
import { createSecureServer, constants, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { selfSignedCertificate } from './tls-certificate.js';
import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, type CryptoKey, type KeyObject } from 'jose';

export interface ApnsRequest {
  path: string;
  headers: Record<string, string | undefined>;
  body: unknown;
}

export interface ApnsServer {
  url: string;
  /** The server's certificate, to trust in the client. */
  ca: string;
  requests: ApnsRequest[];
  /** Provider tokens seen (distinct JWTs). */
  tokens: Set<string>;
  close(): Promise<void>;
}

export async function startApnsServer(options: {
  teamId: string;
  keyId: string;
  topic: string;
  publicKey: CryptoKey | KeyObject;
}): Promise<ApnsServer> {
  const { cert, key } = selfSignedCertificate();

  const requests: ApnsRequest[] = [];
  const tokens = new Set<string>();
  const server: Http2SecureServer = createSecureServer({ cert, key, allowHTTP1: false });
  const sessions = new Set<import('node:http2').ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => {
      void (async () => {
        const answer = (status: number, reason?: string, extra: Record<string, string> = {}) => {
          stream.respond({
            [constants.HTTP2_HEADER_STATUS]: status,
            'apns-id': headers['apns-id'] ?? randomUUID().toUpperCase(),
            ...extra,
          });
          stream.end(
            reason
              ? JSON.stringify({ reason, ...(status === 410 ? { timestamp: Date.now() } : {}) })
              : undefined,
          );
        };
        const path = headers[constants.HTTP2_HEADER_PATH] as string;
        const flat: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(headers)) flat[k] = Array.isArray(v) ? v.join(',') : v;
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        requests.push({ path, headers: flat, body });
        if (headers[constants.HTTP2_HEADER_METHOD] !== 'POST')
          return answer(405, 'MethodNotAllowed');
        const auth = /^bearer (.+)$/.exec((headers.authorization as string) ?? '')?.[1];
        if (!auth) return answer(403, 'MissingProviderToken');
        try {
          if (decodeProtectedHeader(auth).kid !== options.keyId)
            return answer(403, 'InvalidProviderToken');
          const { payload } = await jwtVerify(auth, options.publicKey, {
            algorithms: ['ES256'],
            issuer: options.teamId,
          });
          if (Date.now() / 1000 - (payload.iat ?? 0) > 3600)
            return answer(403, 'ExpiredProviderToken');
        } catch {
          return answer(403, 'InvalidProviderToken');
        }
        tokens.add(auth);
        if (!headers['apns-topic']) return answer(400, 'MissingTopic');
        if (headers['apns-topic'] !== options.topic) return answer(400, 'TopicDisallowed');
        if (!['alert', 'background', 'voip'].includes(headers['apns-push-type'] as string))
          return answer(400, 'InvalidPushType');
        const device = /^\/3\/device\/([0-9a-f]{64,200})$/.exec(path)?.[1];
        if (!device) return answer(400, 'BadDeviceToken');
        const aps = (body as { aps?: { alert?: unknown } }).aps;
        if (!aps) return answer(400, 'PayloadEmpty');
        if (device.startsWith('dead')) return answer(410, 'Unregistered');
        if (device.startsWith('bad0')) return answer(400, 'BadDeviceToken');
        if (device.startsWith('c0de')) return answer(429, 'TooManyRequests');
        if (device.startsWith('fa11')) return answer(503, 'ServiceUnavailable');
        answer(200);
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: cert,
    requests,
    tokens,
    close: () =>
      new Promise<void>((r) => {
        for (const session of sessions) session.destroy();
        server.close(() => r());
      }),
  };
}
