/**
 * A local stand-in for Google's OAuth token endpoint and the FCM HTTP v1 API, checking what
 * they check: the service account's signed assertion (RS256, issuer, audience, scope,
 * lifetime), the bearer token it handed out, the project in the path and the message's shape;
 * and answering as they document, errors included (FcmError details with an errorCode).
 *
 * Tokens whose text names a behaviour get it: `…unregistered…` → 404 UNREGISTERED,
 * `…quota…` → 429 QUOTA_EXCEEDED with Retry-After 1, `…unavailable…` → 503 UNAVAILABLE.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { jwtVerify, type CryptoKey, type KeyObject } from 'jose';

export interface FcmServer {
  url: string;
  tokenUri: string;
  /** Token exchanges accepted so far. */
  tokensIssued(): number;
  /** Every send request that reached the messages endpoint, in order. */
  sends: { path: string; authorization: string | undefined; body: unknown }[];
  /** Makes every issued token invalid (as if expired): the next send gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => resolve(text));
  });

export async function startFcmServer(options: {
  projectId: string;
  clientEmail: string;
  publicKey: CryptoKey | KeyObject;
}): Promise<FcmServer> {
  const issued = new Set<string>();
  let tokenCount = 0;
  const sends: FcmServer['sends'] = [];
  let tokenUri = '';
  const server: Server = createServer((req, res) => {
    void (async () => {
      const text = await body(req);
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
        res.end(JSON.stringify(value));
      };
      const fcmError = (code: number, status: string, message: string, errorCode?: string) =>
        json(code, {
          error: {
            code,
            message,
            status,
            ...(errorCode
              ? {
                  details: [
                    { '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode },
                  ],
                }
              : {}),
          },
        });

      if (req.method === 'POST' && req.url === '/token') {
        const form = new URLSearchParams(text);
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
          return json(400, {
            error: 'unsupported_grant_type',
            error_description: 'Invalid grant_type',
          });
        try {
          const { payload } = await jwtVerify(form.get('assertion') ?? '', options.publicKey, {
            algorithms: ['RS256'],
            issuer: options.clientEmail,
            audience: tokenUri,
          });
          if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging')
            return json(400, { error: 'invalid_scope', error_description: 'Invalid OAuth scope' });
          if ((payload.exp ?? 0) - (payload.iat ?? 0) > 3600)
            return json(400, {
              error: 'invalid_grant',
              error_description: 'Invalid JWT: lifetime too long',
            });
        } catch (err) {
          return json(400, {
            error: 'invalid_grant',
            error_description: `Invalid JWT Signature. ${(err as Error).message}`,
          });
        }
        const token = `ya29.${randomBytes(24).toString('base64url')}`;
        issued.add(token);
        tokenCount++;
        return json(200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
      }

      const match = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(req.url ?? '');
      if (req.method === 'POST' && match) {
        let parsed: {
          message?: { token?: unknown; notification?: { title?: unknown; body?: unknown } };
        };
        try {
          parsed = JSON.parse(text) as typeof parsed;
        } catch {
          return fcmError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
        }
        sends.push({ path: req.url ?? '', authorization: req.headers.authorization, body: parsed });
        const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        if (!bearer || !issued.has(bearer))
          return fcmError(
            401,
            'UNAUTHENTICATED',
            'Request had invalid authentication credentials. Expected OAuth 2 access token.',
          );
        if (decodeURIComponent(match[1] ?? '') !== options.projectId)
          return fcmError(
            403,
            'PERMISSION_DENIED',
            'Permission denied on resource project.',
            'SENDER_ID_MISMATCH',
          );
        const token = parsed.message?.token;
        if (typeof token !== 'string' || token === '')
          return fcmError(
            400,
            'INVALID_ARGUMENT',
            'Recipient of the message is not set.',
            'INVALID_ARGUMENT',
          );
        const n = parsed.message?.notification;
        if (n && (typeof n.title !== 'string' || typeof n.body !== 'string'))
          return fcmError(
            400,
            'INVALID_ARGUMENT',
            'Invalid value at message.notification',
            'INVALID_ARGUMENT',
          );
        if (token.includes('unregistered'))
          return fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED');
        if (token.includes('quota')) {
          res.setHeader('retry-after', '1');
          return fcmError(
            429,
            'RESOURCE_EXHAUSTED',
            'Quota exceeded for sending messages.',
            'QUOTA_EXCEEDED',
          );
        }
        if (token.includes('unavailable'))
          return fcmError(
            503,
            'UNAVAILABLE',
            'The service is currently unavailable.',
            'UNAVAILABLE',
          );
        return json(200, {
          name: `projects/${options.projectId}/messages/0:${Date.now()}%${randomBytes(4).toString('hex')}`,
        });
      }
      json(404, { error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  tokenUri = `${url}/token`;
  return {
    url,
    tokenUri,
    tokensIssued: () => tokenCount,
    sends,
    revokeTokens: () => issued.clear(),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
