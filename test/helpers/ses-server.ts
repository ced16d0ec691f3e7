/**
 * A local Amazon SES API v2 (SendEmail, https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html)
 * that checks each request's AWS Signature Version 4 as AWS does and answers in SES's shapes.
 *
 * The check is written here again from the spec, on purpose apart from src/channels/email/sigv4.ts,
 * so a mistake in the signer is not shared by its judge: the `Authorization` header is parsed,
 * the credential scope must name the known key id (else 403 InvalidClientTokenId), this
 * server's region and `ses` (else 403 SignatureDoesNotMatch), `x-amz-date` must be within 15
 * minutes (else 403 InvalidSignatureException "Signature expired"), `x-amz-content-sha256`
 * must be the body's SHA-256 and signed, and the signature is recomputed from the request as
 * received with the known secret (mismatch: 403 SignatureDoesNotMatch).
 *
 * Then `POST /v2/email/outbound-emails` with a JSON body `{FromEmailAddress, Destination:
 * {ToAddresses}, Content: {Raw: {Data}}}` (missing: 400 BadRequestException) answers
 * `200 {"MessageId"}`. Errors: the type in `x-amzn-ErrorType` and a JSON `{"message"}`. The raw
 * message must be at most 40 MB (else 400 MessageRejected) and name no header SES allows once
 * twice (From, Subject, Reply-To, Content-Type...; else 400 BadRequestException).
 * Faults (http-service.ts): permanent → 400 MessageRejected, unavailable/flaky → 500
 * InternalFailure (type only in the body's `__type`), rateLimited → 429
 * TooManyRequestsException.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  objectBody,
  startHttpService,
  type Faults,
  type HttpService,
  type RecordedRequest,
  type Reply,
} from './http-service.js';

export interface SesServerOptions extends Faults {
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The Retry-After (seconds) of a 429; SES itself sends none. Default: none. */
  retryAfterSeconds?: number;
  /** The server's clock. Default now. */
  now?: () => number;
}

const error = (status: number, type: string, message: string, headers = {}): Reply => ({
  status,
  headers: {
    'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.sesv2/`,
    'x-amzn-requestid': randomBytes(16).toString('hex'),
    ...headers,
  },
  body: { message },
});

const hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const mac = (key: Buffer | string, data: string) =>
  createHmac('sha256', key).update(data, 'utf8').digest();

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** The signature check; undefined when the request is signed right, else the refusal. */
export function checkSigV4(
  req: RecordedRequest,
  options: Pick<SesServerOptions, 'region' | 'accessKeyId' | 'secretAccessKey'>,
  now: number,
): Reply | undefined {
  const auth = req.headers.authorization;
  if (!auth)
    return error(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = AUTH.exec(auth);
  if (!m) return error(403, 'IncompleteSignatureException', `Authorization header is malformed`);
  const [, keyId, day, region, service, signedList, signature] = m as unknown as string[];
  if (keyId !== options.accessKeyId)
    return error(
      403,
      'InvalidClientTokenId',
      'The security token included in the request is invalid.',
    );
  if (region !== options.region)
    return error(
      403,
      'SignatureDoesNotMatch',
      `Credential should be scoped to a valid region, not '${region}'.`,
    );
  if (service !== 'ses')
    return error(
      403,
      'SignatureDoesNotMatch',
      `Credential should be scoped to correct service: 'ses'.`,
    );
  const dateHeader = req.headers['x-amz-date'];
  const date = typeof dateHeader === 'string' ? dateHeader : '';
  const stamp = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!stamp || date.slice(0, 8) !== day)
    return error(
      403,
      'IncompleteSignatureException',
      'x-amz-date is missing or not the scope date',
    );
  const at = Date.UTC(+stamp[1]!, +stamp[2]! - 1, +stamp[3]!, +stamp[4]!, +stamp[5]!, +stamp[6]!);
  if (Math.abs(now - at) > 15 * 60_000)
    return error(
      403,
      'InvalidSignatureException',
      `Signature expired: ${date} is now earlier or later than 15 minutes from the server time.`,
    );
  const signed = signedList!.split(';');
  for (const required of ['host', 'x-amz-date', 'x-amz-content-sha256'])
    if (!signed.includes(required))
      return error(403, 'SignatureDoesNotMatch', `${required} must be a signed header.`);
  const payloadHash = hex(req.raw);
  if (req.headers['x-amz-content-sha256'] !== payloadHash)
    return error(
      400,
      'XAmzContentSHA256Mismatch',
      'The provided x-amz-content-sha256 header does not match what was computed.',
    );
  const [path = '/', query = ''] = req.path.split('?');
  const canonicalQuery = query.split('&').filter(Boolean).sort().join('&');
  const headerLines = signed.map((name) => {
    const value = req.headers[name];
    const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
    return `${name}:${joined.trim().replace(/\s+/g, ' ')}\n`;
  });
  const canonical = `${req.method}\n${path}\n${canonicalQuery}\n${headerLines.join('')}\n${signedList}\n${payloadHash}`;
  const toSign = `AWS4-HMAC-SHA256\n${date}\n${day}/${region}/${service}/aws4_request\n${hex(canonical)}`;
  let key: Buffer | string = `AWS4${options.secretAccessKey}`;
  for (const part of [day, region, service, 'aws4_request']) key = mac(key, part);
  const expected = mac(key, toSign);
  if (!timingSafeEqual(expected, Buffer.from(signature!, 'hex')))
    return error(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  return undefined;
}

/** SES takes raw messages of up to 40 MB (API v2). */
const SES_MAX_MESSAGE = 40 * 1024 * 1024;
// Some of the header fields SES refuses to see more than once (its "Header fields" page).
const ONCE = new Set([
  ...['from', 'to', 'cc', 'bcc', 'sender', 'reply-to', 'subject', 'date', 'message-id'],
  ...['mime-version', 'content-type', 'content-transfer-encoding', 'content-disposition'],
  ...['content-id', 'list-unsubscribe', 'list-unsubscribe-post'],
]);

/** The refusal of a raw message SES would not send: too long, or a header twice. */
function checkRawMessage(raw: string): Reply | undefined {
  if (Buffer.byteLength(raw) > SES_MAX_MESSAGE)
    return error(400, 'MessageRejected', 'Message length is more than 40 megabytes.');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  const seen = new Set<string>();
  for (const line of head.split('\r\n')) {
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    if (ONCE.has(name) && seen.has(name))
      return error(
        400,
        'BadRequestException',
        `Duplicate header '${line.slice(0, line.indexOf(':'))}'.`,
      );
    seen.add(name);
  }
  return undefined;
}

export function startSesServer(options: SesServerOptions): Promise<HttpService> {
  return startHttpService(options, (req, ctx) => {
    const [path] = req.path.split('?');
    if (path !== '/v2/email/outbound-emails')
      return { reply: error(404, 'UnknownOperationException', 'Unknown operation') };
    if (req.method !== 'POST')
      return { reply: error(405, 'UnknownOperationException', 'Method not allowed') };
    const refused = checkSigV4(req, options, options.now?.() ?? Date.now());
    if (refused) return { reply: refused };
    const body = objectBody(req) as
      | {
          FromEmailAddress?: unknown;
          Destination?: { ToAddresses?: unknown };
          Content?: { Raw?: { Data?: unknown }; Simple?: unknown };
        }
      | undefined;
    const to = body?.Destination?.ToAddresses;
    const data = body?.Content?.Raw?.Data;
    if (!Array.isArray(to) || to.length === 0 || typeof to[0] !== 'string')
      return { reply: error(400, 'BadRequestException', 'Missing required field Destination.') };
    const recipient = to[0];
    if (
      typeof data !== 'string' ||
      !/^[A-Za-z0-9+/]+={0,2}$/.test(data) ||
      !Buffer.from(data, 'base64').toString('utf8').includes('\r\n\r\n')
    )
      return {
        recipient,
        reply: error(400, 'BadRequestException', 'Raw message data must be base64-encoded MIME.'),
      };
    const rawRefusal = checkRawMessage(Buffer.from(data, 'base64').toString('utf8'));
    if (rawRefusal) return { recipient, reply: rawRefusal };

    switch (ctx.faultFor(recipient)) {
      case 'hang':
        return { recipient, reply: { status: 0 } };
      case 'permanent':
        return {
          recipient,
          reply: error(
            400,
            'MessageRejected',
            `Email address is not verified. The following identities failed the check in region ${options.region.toUpperCase()}: ${recipient}`,
          ),
        };
      case 'unavailable':
      case 'flaky':
        // As a front end answers: the type only in the body.
        return {
          recipient,
          reply: { status: 500, body: { __type: 'InternalFailure', message: null } },
        };
      case 'rateLimited':
        return {
          recipient,
          reply: error(
            429,
            'TooManyRequestsException',
            'Maximum sending rate exceeded.',
            options.retryAfterSeconds !== undefined
              ? { 'retry-after': String(options.retryAfterSeconds) }
              : {},
          ),
        };
      default:
        return {
          recipient,
          reply: {
            status: 200,
            body: {
              MessageId: `0100019${randomBytes(13).toString('hex')}-${randomBytes(4).toString('hex')}-000000`,
            },
          },
        };
    }
  });
}
