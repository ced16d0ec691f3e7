/**
 * A local Resend API (https://resend.com/docs/api-reference/emails/send-email) that checks a
 * send as Resend does and answers in Resend's shapes: `POST /emails` only, `Authorization:
 * Bearer <key>` (missing: 401 missing_api_key; wrong: 403 invalid_api_key), a JSON body with
 * from, to, subject and html or text (missing: 422 missing_required_field / validation_error),
 * `Idempotency-Key` honoured as Resend documents it (https://resend.com/docs/dashboard/emails/idempotency-keys):
 * same key and body within 24 hours: the first answer again and no second email; another
 * body: 409 invalid_idempotent_request), `200 {"id"}` on success. `emails()` lists the
 * emails really sent, to tell a replay from a second email. Errors: `{statusCode, name, message}`.
 * Also as Resend checks them (422 validation_error): `reply_to` an address or a list of them,
 * `headers` an object of strings, `attachments` a list of `{filename, content (base64) or path,
 * content_type?, content_id? (under 128 characters)}`, at most 40 MB of them after base64.
 */
import { randomUUID } from 'node:crypto';
import {
  isBase64,
  isJsonRequest,
  isMailboxText,
  objectBody,
  startHttpService,
  type Faults,
  type HttpService,
  type Reply,
} from './http-service.js';

export interface ResendServerOptions extends Faults {
  apiKey: string;
  /** The Retry-After (seconds) of a 429. Default 1. */
  retryAfterSeconds?: number;
}

const error = (statusCode: number, name: string, message: string, headers = {}): Reply => ({
  status: statusCode,
  headers,
  body: { statusCode, name, message },
});

const RESEND_MAX_ATTACHMENTS = 40 * 1024 * 1024;

/** What Resend would refuse in `reply_to`, `headers` and `attachments`, as its message. */
function invalidExtras(body: Record<string, unknown>): string | undefined {
  const replyTo = body.reply_to;
  if (
    replyTo !== undefined &&
    !(Array.isArray(replyTo) ? replyTo : [replyTo]).every((a) => isMailboxText(a))
  )
    return 'Invalid `reply_to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.';
  const headers = body.headers;
  if (
    headers !== undefined &&
    (typeof headers !== 'object' ||
      headers === null ||
      Array.isArray(headers) ||
      Object.values(headers).some((v) => typeof v !== 'string'))
  )
    return 'Invalid `headers` field. Headers must be an object of string values.';
  const attachments = body.attachments;
  if (attachments === undefined) return undefined;
  if (!Array.isArray(attachments)) return 'Invalid `attachments` field. Expected an array.';
  let size = 0;
  for (const a of attachments as Record<string, unknown>[]) {
    if (typeof a.filename !== 'string' || a.filename === '')
      return 'Invalid `attachments` field. `filename` is required.';
    if (!isBase64(a.content) && typeof a.path !== 'string')
      return 'Invalid `attachments` field. `content` must be base64 or a `path` must be given.';
    if (a.content_type !== undefined && typeof a.content_type !== 'string')
      return 'Invalid `attachments` field. `content_type` must be a string.';
    if (
      a.content_id !== undefined &&
      (typeof a.content_id !== 'string' || a.content_id.length >= 128)
    )
      return 'Invalid `attachments` field. `content_id` must be a string of less than 128 characters.';
    size += typeof a.content === 'string' ? a.content.length : 0;
  }
  if (size > RESEND_MAX_ATTACHMENTS) return 'Attachments exceed the 40MB limit per email.';
  return undefined;
}

export interface ResendServer extends HttpService {
  /** The emails sent (a replayed idempotent request sends none), in order. */
  emails(): { id: string; to: string }[];
}

export async function startResendServer(options: ResendServerOptions): Promise<ResendServer> {
  const idempotent = new Map<string, { raw: string; id: string }>();
  const emails: { id: string; to: string }[] = [];
  const service = await startHttpService(options, (req, ctx) => {
    if (req.path !== '/emails')
      return { reply: error(404, 'not_found', 'The requested endpoint does not exist.') };
    if (req.method !== 'POST')
      return {
        reply: error(405, 'method_not_allowed', 'Method is not allowed for the requested path.'),
      };
    const auth = req.headers.authorization;
    if (!auth?.startsWith('Bearer '))
      return {
        reply: error(401, 'missing_api_key', 'Missing API key in the authorization header.'),
      };
    if (auth !== `Bearer ${options.apiKey}`)
      return { reply: error(403, 'invalid_api_key', 'API key is invalid') };
    const body = objectBody(req);
    if (!isJsonRequest(req) || !body)
      return { reply: error(422, 'validation_error', 'Invalid JSON body.') };
    for (const field of ['from', 'to', 'subject'])
      if (body[field] === undefined || body[field] === '')
        return { reply: error(422, 'missing_required_field', `Missing \`${field}\` field.`) };
    if (typeof body.html !== 'string' && typeof body.text !== 'string')
      return { reply: error(422, 'validation_error', 'Missing `html` or `text` field.') };
    const bad = invalidExtras(body);
    if (bad) return { reply: error(422, 'validation_error', bad) };
    const to = Array.isArray(body.to) ? body.to : [body.to];
    const recipient = String(to[0]);

    const key = req.headers['idempotency-key'];
    if (typeof key === 'string') {
      const earlier = idempotent.get(key);
      if (earlier && earlier.raw !== req.raw)
        return {
          recipient,
          reply: error(
            409,
            'invalid_idempotent_request',
            'Same idempotency key used with a different request payload.',
          ),
        };
      if (earlier) return { recipient, reply: { status: 200, body: { id: earlier.id } } };
    }

    const fault = ctx.faultFor(recipient);
    switch (fault) {
      case 'hang':
        return { recipient, reply: { status: 0 } };
      case 'permanent':
        return {
          recipient,
          reply: error(
            422,
            'validation_error',
            'Invalid `to` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.',
          ),
        };
      case 'unavailable':
      case 'flaky':
        return {
          recipient,
          reply: error(500, 'application_error', 'An unexpected error occurred.'),
        };
      case 'rateLimited':
        return {
          recipient,
          reply: error(
            429,
            'rate_limit_exceeded',
            'Too many requests. You can only make 2 requests per second. See rate limit response headers for more information.',
            {
              'retry-after': String(options.retryAfterSeconds ?? 1),
              'ratelimit-limit': '2',
              'ratelimit-remaining': '0',
              'ratelimit-reset': String(options.retryAfterSeconds ?? 1),
            },
          ),
        };
      case 'lostAnswer':
      default: {
        const id = randomUUID();
        emails.push({ id, to: recipient });
        if (typeof key === 'string') idempotent.set(key, { raw: req.raw, id });
        // lostAnswer: sent, but the answer never reaches the sender.
        if (fault === 'lostAnswer') return { recipient, reply: { status: 0 } };
        return { recipient, reply: { status: 200, body: { id } } };
      }
    }
  });
  return { ...service, emails: () => [...emails] };
}
