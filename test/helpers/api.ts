/** Calling the HTTP API in-process (Hono's app.request) with a bearer token. */
import type { Hono } from 'hono';

/** A problem+json body. */
export interface Problem {
  code: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[];
}

export type Call = (
  method: string,
  path: string,
  body?: unknown,
  auth?: string | null,
) => Promise<Response>;

/** `body` strings are sent as they are (to send broken JSON); anything else as JSON. */
export function apiCaller(app: Hono, defaultAuth: string): Call {
  return (method, path, body, auth = defaultAuth) =>
    Promise.resolve(
      app.request(path, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(auth === null ? {} : { authorization: `Bearer ${auth}` }),
        },
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    );
}

/** A recipient token (HS256 JWT) for `sub`, as an app would sign it; valid for 5 minutes. */
export async function recipientToken(sub: string, secret: string): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(secret));
}
