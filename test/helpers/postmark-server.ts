/**
 * A local Postmark API (https://postmarkapp.com/developer/api/email-api) that checks a send as
 * Postmark does and answers in Postmark's shapes: `POST /email` only, the
 * `X-Postmark-Server-Token` header (missing or wrong: 401 with ErrorCode 10), `Accept` and
 * `Content-Type: application/json`, a body with From, To, Subject and HtmlBody or TextBody
 * (else 422 with ErrorCode 300), Headers as `[{Name, Value}]`, a MessageStream that exists
 * (else ErrorCode 1235); `200 {To, SubmittedAt, MessageID, ErrorCode: 0, Message: "OK"}` on
 * success. A 429 carries Retry-After as an HTTP date. Also as Postmark checks them (422 with
 * ErrorCode 300): `ReplyTo` an address, `Attachments` of `{Name, Content (base64), ContentType
 * (a MIME type), ContentID? (ASCII, no spaces: RFC 2392)}` without the forbidden file types, and
 * a message of at most 10 MB, base64 included.
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

export interface PostmarkServerOptions extends Faults {
  serverToken: string;
  /** The message streams of the server. Default `outbound` and `broadcast`. */
  streams?: string[];
}

const error = (status: number, ErrorCode: number, Message: string, headers = {}): Reply => ({
  status,
  headers,
  body: { ErrorCode, Message },
});

const POSTMARK_MAX_MESSAGE = 10 * 1024 * 1024;
// Some of the file types Postmark refuses to attach.
const FORBIDDEN = /\.(?:exe|bat|com|cmd|scr|pif|vbs|vbe|js|jse|wsf|wsh|msi|msp|hta|cpl|lnk|reg)$/i;

/** What Postmark would refuse in `ReplyTo` and `Attachments`, as its message. */
function invalidExtras(body: Record<string, unknown>, size: number): string | undefined {
  if (size > POSTMARK_MAX_MESSAGE) return 'The message size exceeds the 10 MB limit.';
  if (body.ReplyTo !== undefined && !isMailboxText(body.ReplyTo))
    return `Invalid 'ReplyTo' address: '${JSON.stringify(body.ReplyTo)}'.`;
  const attachments = body.Attachments;
  if (attachments === undefined) return undefined;
  if (!Array.isArray(attachments)) return 'Invalid Attachments: expected an array.';
  for (const a of attachments as Record<string, unknown>[]) {
    if (typeof a.Name !== 'string' || a.Name === '') return 'Attachment Name is required.';
    if (FORBIDDEN.test(a.Name)) return `Forbidden attachment type: ${a.Name}`;
    if (!isBase64(a.Content)) return `Attachment ${a.Name}: Content must be base64.`;
    if (typeof a.ContentType !== 'string' || !/^[\w.+-]+\/[\w.+-]+$/.test(a.ContentType))
      return `Attachment ${a.Name}: invalid ContentType '${String(a.ContentType)}'.`;
    if (
      a.ContentID !== undefined &&
      (typeof a.ContentID !== 'string' || !/^[\x21-\x7e]+$/.test(a.ContentID))
    )
      return `Attachment ${a.Name}: invalid ContentID (ASCII without spaces).`;
  }
  return undefined;
}

export function startPostmarkServer(options: PostmarkServerOptions): Promise<HttpService> {
  const streams = new Set(options.streams ?? ['outbound', 'broadcast']);
  return startHttpService(options, (req, ctx) => {
    if (req.path !== '/email' || req.method !== 'POST')
      return { reply: { status: 404, body: 'Not Found' } };
    const token = req.headers['x-postmark-server-token'];
    if (token === undefined)
      return {
        reply: error(
          401,
          10,
          'No Account or Server API tokens were supplied in the HTTP headers. Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.',
        ),
      };
    if (token !== options.serverToken)
      return {
        reply: error(
          401,
          10,
          'The Server API Token you provided in the X-Postmark-Server-Token request header was invalid. Please verify that you are using a valid token.',
        ),
      };
    const body = objectBody(req);
    if (!isJsonRequest(req) || !/application\/json/.test(req.headers.accept ?? '') || !body)
      return { reply: error(422, 402, 'Received invalid JSON input.') };
    if (typeof body.From !== 'string' || body.From === '')
      return { reply: error(422, 300, "Invalid 'From' address: ''.") };
    if (typeof body.To !== 'string' || body.To === '')
      return { reply: error(422, 300, 'Zero recipients specified') };
    if (typeof body.HtmlBody !== 'string' && typeof body.TextBody !== 'string')
      return { reply: error(422, 300, 'Provide either email TextBody or HtmlBody or both.') };
    const headers = body.Headers;
    if (
      headers !== undefined &&
      (!Array.isArray(headers) ||
        headers.some(
          (h: { Name?: unknown; Value?: unknown }) =>
            typeof h.Name !== 'string' || typeof h.Value !== 'string',
        ))
    )
      return { reply: error(422, 300, 'Invalid Headers: expected an array of {Name, Value}.') };
    const bad = invalidExtras(body, req.raw.length);
    if (bad) return { reply: error(422, 300, bad) };
    const stream = typeof body.MessageStream === 'string' ? body.MessageStream : 'outbound';
    if (!streams.has(stream))
      return {
        reply: error(422, 1235, `The message stream for the provided 'ID' was not found.`),
      };
    const recipient = body.To;
    switch (ctx.faultFor(recipient)) {
      case 'hang':
        return { recipient, reply: { status: 0 } };
      case 'permanent':
        return {
          recipient,
          reply: error(
            422,
            406,
            `You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: ${recipient}. Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression.`,
          ),
        };
      case 'unavailable':
      case 'flaky':
        return { recipient, reply: { status: 503, body: 'Service Unavailable' } };
      case 'rateLimited':
        return {
          recipient,
          reply: error(429, 429, 'Rate limit exceeded.', {
            'retry-after': new Date(Date.now() + 2000).toUTCString(),
          }),
        };
      default:
        return {
          recipient,
          reply: {
            status: 200,
            body: {
              To: recipient,
              SubmittedAt: new Date().toISOString(),
              MessageID: randomUUID(),
              ErrorCode: 0,
              Message: 'OK',
            },
          },
        };
    }
  });
}
