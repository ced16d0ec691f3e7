/**
 * A local WhatsApp Cloud API (node:http on 127.0.0.1). It checks what the Graph API checks and
 * answers as Meta documents:
 * - only `POST /v21.0/{phone-number-id}/messages` (else error 100, "Unsupported post request");
 * - `Authorization: Bearer <token>` (else 401, OAuthException code 190);
 * - a JSON body (`application/json`) with messaging_product `whatsapp`, `to`, and a `text.body`
 *   or a `template` with `name` and `language.code` (else 400, code 100);
 * - success: 200 `{messaging_product, contacts: [{input, wa_id}], messages: [{id: 'wamid...'}]}`.
 * Answers can be scripted per `to` (`script`), used once each in order.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ScriptedAnswer } from './twilio-server.js';

export interface WhatsappRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown> | undefined;
}

export interface WhatsappServer {
  url: string;
  token: string;
  phoneNumberId: string;
  requests: WhatsappRequest[];
  /** Answers for a `to`, each used once before the default success. */
  script(to: string, ...answers: ScriptedAnswer[]): void;
  close(): Promise<void>;
}

/** Meta's Graph API error answer shape. */
export const graphError = (
  status: number,
  code: number,
  message: string,
  extra: { type?: string; error_subcode?: number; headers?: Record<string, string> } = {},
): ScriptedAnswer => ({
  status,
  body: {
    error: {
      message,
      type: extra.type ?? 'OAuthException',
      code,
      ...(extra.error_subcode ? { error_subcode: extra.error_subcode } : {}),
      fbtrace_id: randomBytes(9).toString('base64url'),
    },
  },
  ...(extra.headers ? { headers: extra.headers } : {}),
});

export async function startWhatsappServer(): Promise<WhatsappServer> {
  const token = `EAAG${randomBytes(24).toString('hex')}`;
  const phoneNumberId = String(100_000_000_000_000 + Math.floor(Math.random() * 1e9));
  const requests: WhatsappRequest[] = [];
  const scripts = new Map<string, ScriptedAnswer[]>();

  const send = (res: ServerResponse, a: ScriptedAnswer) => {
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.body));
  };
  const invalid = (res: ServerResponse, message: string) =>
    send(res, graphError(400, 100, message));

  const handle = (req: IncomingMessage, raw: string, res: ServerResponse) => {
    const path = req.url ?? '';
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    requests.push({ method: req.method ?? '', path, headers: req.headers, body });
    if (req.method !== 'POST' || path !== `/v21.0/${phoneNumberId}/messages`)
      return send(
        res,
        graphError(400, 100, `Unsupported post request. Object with ID '${path}' does not exist`, {
          type: 'GraphMethodException',
          error_subcode: 33,
        }),
      );
    if (req.headers.authorization !== `Bearer ${token}`)
      return send(
        res,
        graphError(401, 190, 'Invalid OAuth access token - Cannot parse access token'),
      );
    if (!req.headers['content-type']?.startsWith('application/json') || !body)
      return invalid(res, '(#100) The parameter messaging_product is required.');
    if (body.messaging_product !== 'whatsapp')
      return invalid(res, '(#100) The parameter messaging_product is required.');
    if (typeof body.to !== 'string' || !body.to)
      return invalid(res, '(#100) The parameter to is required.');
    if (body.type === 'text') {
      const text = body.text as { body?: unknown } | undefined;
      if (typeof text?.body !== 'string' || !text.body)
        return invalid(res, "(#100) Param text['body'] is required.");
    } else if (body.type === 'template') {
      const t = body.template as { name?: unknown; language?: { code?: unknown } } | undefined;
      if (typeof t?.name !== 'string')
        return invalid(res, "(#100) Param template['name'] is required.");
      if (typeof t.language?.code !== 'string')
        return invalid(res, "(#100) Param template['language'] is required.");
    } else {
      return invalid(
        res,
        `(#100) Param type must be one of {AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO} - got "${String(body.type)}".`,
      );
    }
    const scripted = scripts.get(body.to)?.shift();
    if (scripted) return send(res, scripted);
    send(res, {
      status: 200,
      body: {
        messaging_product: 'whatsapp',
        contacts: [{ input: body.to, wa_id: body.to }],
        messages: [{ id: `wamid.${randomBytes(24).toString('base64url')}` }],
      },
    });
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
    token,
    phoneNumberId,
    requests,
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
