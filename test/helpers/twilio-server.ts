/**
 * A local Twilio Messages API (node:http on 127.0.0.1) for the SMS and WhatsApp providers. It
 * checks what Twilio checks and answers as Twilio documents:
 * - only `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (else 404 with code 20404);
 * - HTTP Basic auth with the account's SID and token (else 401 with code 20003);
 * - a form body (`application/x-www-form-urlencoded`) with To (21604), From or
 *   MessagingServiceSid (21603) and Body (21602), To a valid number (21211);
 * - success: 201 with the Message resource (`sid` SM..., `status` queued, `num_segments`).
 * Answers can be scripted per To number (`script`), used once each in order: 429, 500, or a
 * permanent error such as 21610 (unsubscribed).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TwilioRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  form: Record<string, string>;
  /** When the request had arrived whole (Date.now()). */
  at: number;
}

export interface ScriptedAnswer {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface TwilioServer {
  url: string;
  accountSid: string;
  authToken: string;
  /** Every request received, in order (valid or not). */
  requests: TwilioRequest[];
  /** The messages accepted (201), with the answer sent. */
  accepted: { form: Record<string, string>; answer: Record<string, unknown> }[];
  /** Answers for a To number, each used once before the default success. */
  script(to: string, ...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

/** Twilio's error answer shape. */
export const twilioError = (
  status: number,
  code: number,
  message: string,
  headers?: Record<string, string>,
): ScriptedAnswer => ({
  status,
  body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status },
  ...(headers ? { headers } : {}),
});

/** How the server counts segments for `num_segments` (default: 1). */
export type SegmentCounter = (body: string) => number;

export async function startTwilioServer(
  options: { accountSid?: string; authToken?: string; segments?: SegmentCounter } = {},
): Promise<TwilioServer> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');
  const requests: TwilioRequest[] = [];
  const accepted: TwilioServer['accepted'] = [];
  const scripts = new Map<string, ScriptedAnswer[]>();

  const send = (res: ServerResponse, a: ScriptedAnswer) => {
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.body));
  };

  const handle = (req: IncomingMessage, raw: string, res: ServerResponse) => {
    const path = req.url ?? '';
    const form = Object.fromEntries(new URLSearchParams(raw));
    requests.push({ method: req.method ?? '', path, headers: req.headers, form, at: Date.now() });
    if (req.method !== 'POST' || path !== `/2010-04-01/Accounts/${accountSid}/Messages.json`)
      return send(res, twilioError(404, 20404, 'The requested resource was not found'));
    const expected = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
    if (req.headers.authorization !== expected) {
      res.setHeader('www-authenticate', 'Basic realm="Twilio API"');
      return send(res, twilioError(401, 20003, 'Authenticate'));
    }
    if (!req.headers['content-type']?.startsWith('application/x-www-form-urlencoded'))
      return send(res, twilioError(400, 21604, "A 'To' phone number is required."));
    if (!form.To) return send(res, twilioError(400, 21604, "A 'To' phone number is required."));
    if (!form.From && !form.MessagingServiceSid)
      return send(res, twilioError(400, 21603, "A 'From' phone number is required."));
    if (!form.Body) return send(res, twilioError(400, 21602, 'Message body is required.'));
    if (!/^(whatsapp:)?\+[1-9]\d{1,14}$/.test(form.To))
      return send(res, twilioError(400, 21211, `Invalid 'To' Phone Number: ${form.To}`));
    const scripted = scripts.get(form.To)?.shift();
    if (scripted) return send(res, scripted);

    const sid = `SM${randomBytes(16).toString('hex')}`;
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const answer = {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: form.Body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: form.From ?? null,
      messaging_service_sid: form.MessagingServiceSid ?? null,
      num_media: '0',
      // As documented: 0 through a Messaging Service until a sender is picked.
      num_segments: form.MessagingServiceSid
        ? '0'
        : String(options.segments ? options.segments(form.Body) : 1),
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to: form.To,
      uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`,
    };
    accepted.push({ form, answer });
    send(res, { status: 201, body: answer });
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    accepted,
    script(to, ...answers) {
      scripts.set(to, [...(scripts.get(to) ?? []), ...answers]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
