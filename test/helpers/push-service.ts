/**
 * A local Web Push service (RFC 8030) on 127.0.0.1 over plain HTTP, checking a push message the
 * way a browser vendor's service does, with its own code (node:crypto only, nothing shared with
 * the sender):
 *
 * - `TTL` present; `Content-Encoding: aes128gcm`; a body of at most 4096 bytes (else 413);
 * - `Authorization: vapid t=<jwt>, k=<public key>` (RFC 8292): `k` must be the key the
 *   browser subscribed with (else 403), the ES256 JWT must verify with `k`, `aud` must be the
 *   endpoint's origin, `exp` in the future and within 24 h, `sub` present (else 401);
 * - the body is decrypted with the subscription's private key and auth secret (RFC 8291), and
 *   the plaintext is kept in `received`.
 *
 * It answers 201 with a `Location`, or what `answer(endpoint, ...)` set for that subscription
 * (404, 410, 429 with Retry-After, 500...), after checking the auth as a real service does.
 */
import {
  createECDH,
  createDecipheriv,
  createPublicKey,
  hkdfSync,
  randomBytes,
  randomUUID,
  verify,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A subscription as the browser makes it, with the private half only the browser keeps. */
export interface BrowserSubscription {
  subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  privateKey: Buffer;
  /** The applicationServerKey it was made with (base64url). */
  applicationServerKey: string;
}

export interface ReceivedPush {
  endpoint: string;
  headers: IncomingMessage['headers'];
  /** The decrypted payload. */
  plaintext: string;
  claims: { aud: string; exp: number; sub: string };
}

export interface CannedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface PushService {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Subscribes like a browser's `pushManager.subscribe({applicationServerKey})`. */
  subscribe(applicationServerKey: string): BrowserSubscription;
  /** From now on, pushes to this endpoint get this answer (after the auth checks). */
  answer(endpoint: string, answer: CannedAnswer | undefined): void;
  received: ReceivedPush[];
  /** Every refused request: status and why. */
  refused: { status: number; reason: string }[];
  close(): Promise<void>;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(reason);
  }
}

const b64 = (s: string) => Buffer.from(s, 'base64url');

/** RFC 8292 §2, §3: checks the VAPID header; returns the JWT's claims. */
function checkVapid(header: string | undefined, origin: string, expectedKey: string) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? '');
  if (!m?.[1] || !m[2]) throw new Refusal(401, 'missing or malformed vapid Authorization');
  const [token, k] = [m[1], m[2]];
  if (k !== expectedKey) throw new Refusal(403, 'k is not the subscription applicationServerKey');
  const [h, p, s] = token.split('.');
  if (!h || !p || !s) throw new Refusal(401, 'the JWT has not three parts');
  const head = JSON.parse(b64(h).toString('utf8')) as { alg?: string };
  if (head.alg !== 'ES256') throw new Refusal(401, `JWT alg ${head.alg} is not ES256`);
  const point = b64(k);
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: point.subarray(1, 33).toString('base64url'),
      y: point.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  });
  const ok = verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, b64(s));
  if (!ok) throw new Refusal(401, 'the JWT signature does not verify with k');
  const claims = JSON.parse(b64(p).toString('utf8')) as ReceivedPush['claims'];
  const now = Date.now() / 1000;
  if (claims.aud !== origin) throw new Refusal(401, `aud ${claims.aud} is not ${origin}`);
  if (!(claims.exp > now && claims.exp <= now + 86_400))
    throw new Refusal(401, 'exp is not within the next 24 hours');
  if (!claims.sub) throw new Refusal(401, 'sub is missing');
  return claims;
}

/** RFC 8291 §3.4 and RFC 8188 §2: decrypts an aes128gcm body of a single record. */
function decrypt(body: Buffer, uaPrivate: Buffer, authSecret: Buffer): string {
  if (body.length < 21) throw new Refusal(400, 'body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20] ?? 0;
  if (idlen !== 65) throw new Refusal(400, 'keyid is not a 65-byte P-256 point');
  const asPublic = body.subarray(21, 21 + idlen);
  const record = body.subarray(21 + idlen);
  if (record.length > rs) throw new Refusal(400, 'more than one record');
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(uaPrivate);
  const uaPublic = ecdh.getPublicKey();
  const ecdhSecret = ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, authSecret, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, 'Content-Encoding: aes128gcm\0', 16));
  const nonce = Buffer.from(hkdfSync('sha256', ikm, salt, 'Content-Encoding: nonce\0', 12));
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(record.subarray(record.length - 16));
  let padded: Buffer;
  try {
    padded = Buffer.concat([
      decipher.update(record.subarray(0, record.length - 16)),
      decipher.final(),
    ]);
  } catch {
    throw new Refusal(400, 'the payload does not decrypt');
  }
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Refusal(400, 'no 0x02 padding delimiter');
  return padded.subarray(0, end).toString('utf8');
}

export async function startPushService(): Promise<PushService> {
  const subscriptions = new Map<string, BrowserSubscription>();
  const answers = new Map<string, CannedAnswer>();
  const received: ReceivedPush[] = [];
  const refused: PushService['refused'] = [];
  let origin = '';

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const endpoint = origin + (req.url ?? '');
      try {
        const sub = subscriptions.get(endpoint);
        if (req.method !== 'POST') throw new Refusal(405, 'not POST');
        if (!sub) throw new Refusal(404, 'no such subscription');
        if (req.headers.ttl === undefined || !/^\d+$/.test(req.headers.ttl as string))
          throw new Refusal(400, 'TTL header missing');
        const claims = checkVapid(req.headers.authorization, origin, sub.applicationServerKey);
        const canned = answers.get(endpoint);
        if (canned) {
          res.writeHead(canned.status, canned.headers ?? {});
          res.end(canned.body ?? '');
          return;
        }
        if (req.headers['content-encoding'] !== 'aes128gcm')
          throw new Refusal(415, 'Content-Encoding is not aes128gcm');
        if (body.length > 4096) throw new Refusal(413, 'payload over 4096 bytes');
        const plaintext = decrypt(body, sub.privateKey, b64(sub.subscription.keys.auth));
        received.push({ endpoint, headers: req.headers, plaintext, claims });
        res.writeHead(201, { Location: `${origin}/m/${randomUUID()}` });
        res.end();
      } catch (err) {
        const status = err instanceof Refusal ? err.status : 500;
        refused.push({ status, reason: (err as Error).message });
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end((err as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    received,
    refused,
    subscribe(applicationServerKey) {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const made: BrowserSubscription = {
        subscription: {
          endpoint: `${origin}/push/${randomUUID()}`,
          keys: {
            p256dh: ecdh.getPublicKey().toString('base64url'),
            auth: randomBytes(16).toString('base64url'),
          },
        },
        privateKey: ecdh.getPrivateKey(),
        applicationServerKey,
      };
      subscriptions.set(made.subscription.endpoint, made);
      return made;
    },
    answer(endpoint, answer) {
      if (answer) answers.set(endpoint, answer);
      else answers.delete(endpoint);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
