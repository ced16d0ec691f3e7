/**
 * A local Vonage SMS API (https://developer.vonage.com/en/api/sms) on the recording server of
 * http-service.ts. It checks a send as Vonage does and answers in Vonage's shapes:
 * - only `POST /sms/json` (another path: 404, another method: 405, RFC 7807 problems);
 * - a form (`application/x-www-form-urlencoded`) or JSON body;
 * - `api_key` and `api_secret` present (else status 2, "Missing api_key") and the account's
 *   (else status 4, "Bad Credentials"), `from`, `to` and `text` present (status 2), `to` the
 *   number's digits without `+` (status 3), `client-ref` at most 100 characters (status 3);
 * - text outside the GSM-7 alphabet needs `type=unicode`: Vonage itself would send it as
 *   GSM-7 and lose those characters, this server refuses it (status 3) so a test sees it;
 * - success: HTTP 200 `{"message-count", "messages": [...]}` with one entry per SMS part
 *   (`to`, `message-id`, `status` "0", `remaining-balance`, `message-price`, `network`).
 * Refusals are HTTP 200 too, `{"message-count": "1", "messages": [{status, error-text}]}`.
 * Answers can be scripted per `to` (digits, as Vonage gets it), used once each in order.
 */
import { randomBytes } from 'node:crypto';
import { smsSegments } from '../../src/channels/sms/segments.js';
import {
  isJsonRequest,
  objectBody,
  startHttpService,
  type HttpService,
  type RecordedRequest,
  type Reply,
} from './http-service.js';

export interface VonageServer extends HttpService {
  apiKey: string;
  apiSecret: string;
  /** The messages accepted, with the answer sent. */
  accepted: { params: Record<string, string>; answer: VonageAnswer }[];
  /** Answers for a `to` (digits without `+`), each used once before the default success. */
  script(to: string, ...answers: Reply[]): void;
}

export interface VonageAnswer {
  'message-count': string;
  messages: Record<string, string>[];
}

/** Vonage's answer refusing a message: HTTP 200 with a non-zero status and its error text. */
export const vonageStatus = (status: number, errorText: string): Reply => ({
  status: 200,
  body: { 'message-count': '1', messages: [{ status: String(status), 'error-text': errorText }] },
});

/** The request's parameters, from a form or a JSON body. */
export function paramsOf(req: RecordedRequest): Record<string, string> {
  if (isJsonRequest(req))
    return Object.fromEntries(
      Object.entries(objectBody(req) ?? {}).map(([k, v]) => [k, String(v)]),
    );
  return Object.fromEntries(new URLSearchParams(req.raw));
}

const problem = (status: number, title: string): Reply => ({
  status,
  headers: { 'content-type': 'application/problem+json' },
  body: { type: `https://developer.vonage.com/api-errors#${status}`, title },
});

export function startVonageServer(
  options: { apiKey?: string; apiSecret?: string } = {},
): Promise<VonageServer> {
  const apiKey = options.apiKey ?? randomBytes(4).toString('hex');
  const apiSecret = options.apiSecret ?? randomBytes(8).toString('hex');
  const accepted: VonageServer['accepted'] = [];
  const scripts = new Map<string, Reply[]>();
  let balance = 10;

  const check = (req: RecordedRequest): { reply: Reply; recipient?: string } => {
    if (req.path !== '/sms/json') return { reply: problem(404, 'Not Found') };
    if (req.method !== 'POST') return { reply: problem(405, 'Method Not Allowed') };
    const form = /^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '');
    const params = form || isJsonRequest(req) ? paramsOf(req) : {};
    for (const field of ['api_key', 'api_secret'])
      if (!params[field]) return { reply: vonageStatus(2, `Missing ${field}`) };
    if (params.api_key !== apiKey || params.api_secret !== apiSecret)
      return { reply: vonageStatus(4, 'Bad Credentials') };
    for (const field of ['from', 'to', 'text'])
      if (!params[field]) return { reply: vonageStatus(2, `Missing ${field} param`) };
    const to = params.to!;
    if (!/^[1-9]\d{6,14}$/.test(to))
      return { recipient: to, reply: vonageStatus(3, `Invalid to param: ${to}`) };
    if ((params['client-ref'] ?? '').length > 100)
      return { recipient: to, reply: vonageStatus(3, 'Invalid client-ref param') };
    const { encoding, segments } = smsSegments(params.text!);
    if (encoding === 'UCS-2' && params.type !== 'unicode')
      return {
        recipient: to,
        reply: vonageStatus(3, 'Invalid text param: not GSM-7, send it with type=unicode'),
      };
    const scripted = scripts.get(to)?.shift();
    if (scripted) return { recipient: to, reply: scripted };

    const price = 0.0333;
    const messages = Array.from({ length: segments }, () => {
      balance -= price;
      return {
        to,
        'message-id': randomBytes(8).toString('hex').toUpperCase(),
        status: '0',
        'remaining-balance': balance.toFixed(8),
        'message-price': price.toFixed(8),
        network: '26202',
      };
    });
    const answer: VonageAnswer = { 'message-count': String(segments), messages };
    accepted.push({ params, answer });
    return { recipient: to, reply: { status: 200, body: answer } };
  };

  return startHttpService({}, check).then((service) => ({
    ...service,
    apiKey,
    apiSecret,
    accepted,
    script(to, ...answers) {
      scripts.set(to, [...(scripts.get(to) ?? []), ...answers]);
    },
  }));
}
