/**
 * A local SendGrid v3 Mail Send API (https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send)
 * that checks a send as SendGrid does and answers in SendGrid's shapes: `POST /v3/mail/send`
 * only, `Authorization: Bearer <key>` (else 401 with SendGrid's message), a JSON body with
 * personalizations[].to[].email, from.email, a subject, and content with text/plain before
 * text/html (else 400 with the field); `202` with an empty body and `X-Message-Id` on success.
 * Errors: `{"errors": [{message, field, help}]}`. A 429 carries SendGrid's `X-RateLimit-*`
 * headers (the reset as an epoch second), not Retry-After. Also as SendGrid checks them:
 * `reply_to` an `{email, name?}`, `headers` without the names SendGrid reserves, `attachments`
 * of `{content (base64), filename, type?, disposition?, content_id (required when inline)}`
 * (400 with the field), and a message under 30 MB (413).
 */
import { randomBytes } from 'node:crypto';
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

export interface SendGridServerOptions extends Faults {
  apiKey: string;
}

const errors = (
  status: number,
  list: { message: string; field?: string | null; help?: string | null }[],
  headers: Record<string, string> = {},
): Reply => ({
  status,
  headers,
  body: { errors: list.map((e) => ({ field: null, help: null, ...e })) },
});

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

/** The first thing SendGrid would refuse in a mail/send body, as [field, message]. */
function invalid(body: Record<string, unknown>): [string, string] | undefined {
  const p = body.personalizations;
  if (!Array.isArray(p) || p.length === 0)
    return [
      'personalizations',
      'The personalizations field is required and must have at least one personalization.',
    ];
  for (const [i, one] of (p as { to?: { email?: unknown }[] }[]).entries()) {
    if (!Array.isArray(one.to) || one.to.length === 0)
      return [
        `personalizations.${i}.to`,
        'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
      ];
    if (one.to.some((t) => typeof t.email !== 'string' || !t.email.includes('@')))
      return [`personalizations.${i}.to.0.email`, 'Does not contain a valid address.'];
  }
  const from = body.from as { email?: unknown } | undefined;
  if (typeof from?.email !== 'string' || from.email === '')
    return [
      'from.email',
      'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.',
    ];
  if (typeof body.subject !== 'string' || body.subject === '')
    return [
      'subject',
      'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
    ];
  const content = body.content as { type?: unknown; value?: unknown }[] | undefined;
  if (!Array.isArray(content) || content.length === 0)
    return [
      'content',
      'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
    ];
  if (content.some((c) => typeof c.value !== 'string' || c.value === ''))
    return [
      'content.0.value',
      'The content value must be a string at least one character in length.',
    ];
  const types = content.map((c) => c.type);
  if (types.includes('text/html') && types.includes('text/plain') && types[0] !== 'text/plain')
    return [
      'content',
      'If present, text/plain and text/html may only be provided in the following order: text/plain, text/html.',
    ];
  const headers = body.headers;
  if (
    headers !== undefined &&
    (typeof headers !== 'object' ||
      headers === null ||
      Object.values(headers).some((v) => typeof v !== 'string'))
  )
    return [
      'headers',
      'Invalid type. Expected: object, given: array. Headers must be a collection of string key/value pairs.',
    ];
  const reserved = Object.keys(headers ?? {}).filter((h) =>
    RESERVED_HEADERS.has(h.toLowerCase()),
  );
  if (reserved.length > 0)
    return [
      'headers',
      `The following headers are reserved and cannot be used: ${reserved.join(', ')}`,
    ];
  return invalidExtras(body);
}

// SendGrid's reserved headers (its Mail Send reference: "headers").
const RESERVED_HEADERS = new Set([
  'x-sg-id',
  'x-sg-eid',
  'received',
  'dkim-signature',
  'content-type',
  'content-transfer-encoding',
  'to',
  'from',
  'subject',
  'reply-to',
  'cc',
  'bcc',
]);

/** What SendGrid would refuse in `reply_to` and `attachments`, as [field, message]. */
function invalidExtras(body: Record<string, unknown>): [string, string] | undefined {
  const replyTo = body.reply_to as { email?: unknown } | undefined;
  if (replyTo !== undefined && !isMailboxText(replyTo.email))
    return ['reply_to.email', 'The reply_to email does not contain a valid address.'];
  const attachments = body.attachments;
  if (attachments === undefined) return undefined;
  if (!Array.isArray(attachments) || attachments.length === 0)
    return ['attachments', 'The attachments array must have at least one attachment object.'];
  for (const [i, a] of (attachments as Record<string, unknown>[]).entries()) {
    if (!isBase64(a.content) || a.content === '')
      return [`attachments.${i}.content`, 'The attachment content must be base64 encoded.'];
    if (typeof a.filename !== 'string' || a.filename === '')
      return [`attachments.${i}.filename`, 'The attachment filename parameter is required.'];
    if (a.type !== undefined && (typeof a.type !== 'string' || /[;\r\n]/.test(a.type)))
      return [
        `attachments.${i}.type`,
        "The attachment type cannot contain ';', or CRLF characters.",
      ];
    const disposition = a.disposition ?? 'attachment';
    if (disposition !== 'inline' && disposition !== 'attachment')
      return [`attachments.${i}.disposition`, 'The disposition must be inline or attachment.'];
    if (disposition === 'inline' && (typeof a.content_id !== 'string' || a.content_id === ''))
      return [
        `attachments.${i}.content_id`,
        'The content_id parameter is required if disposition is set to inline.',
      ];
  }
  return undefined;
}

const SENDGRID_MAX_MESSAGE = 30 * 1024 * 1024;

export function startSendGridServer(options: SendGridServerOptions): Promise<HttpService> {
  return startHttpService(options, (req, ctx) => {
    if (req.raw.length > SENDGRID_MAX_MESSAGE)
      return {
        reply: errors(413, [
          {
            message: 'The total size of your email, including attachments, must be less than 30MB.',
          },
        ]),
      };
    if (req.path !== '/v3/mail/send' || req.method !== 'POST')
      return { reply: errors(404, [{ message: 'Not Found' }]) };
    if (req.headers.authorization !== `Bearer ${options.apiKey}`)
      return {
        reply: errors(401, [
          {
            message: req.headers.authorization
              ? 'The provided authorization grant is invalid, expired, or revoked'
              : 'authorization required',
          },
        ]),
      };
    const body = objectBody(req);
    if (!isJsonRequest(req) || !body)
      return { reply: errors(400, [{ message: 'Bad Request', help: `${HELP}#message.body` }]) };
    const bad = invalid(body);
    if (bad) return { reply: errors(400, [{ field: bad[0], message: bad[1], help: HELP }]) };
    const recipient = (body.personalizations as { to: { email: string }[] }[])[0]!.to[0]!.email;
    switch (ctx.faultFor(recipient)) {
      case 'hang':
        return { recipient, reply: { status: 0 } };
      case 'permanent':
        return {
          recipient,
          reply: errors(400, [
            {
              field: 'personalizations.0.to.0.email',
              message: 'Does not contain a valid address.',
              help: `${HELP}#message.personalizations.to`,
            },
          ]),
        };
      case 'unavailable':
      case 'flaky':
        return { recipient, reply: errors(503, [{ message: 'Service Unavailable' }]) };
      case 'rateLimited':
        return {
          recipient,
          reply: errors(429, [{ message: 'too many requests' }], {
            'x-ratelimit-limit': '600',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 1),
          }),
        };
      default:
        return {
          recipient,
          reply: {
            status: 202,
            headers: { 'x-message-id': randomBytes(16).toString('base64url').slice(0, 22) },
          },
        };
    }
  });
}
