/**
 * A local Slack incoming-webhooks endpoint (on http-service.ts), checking what Slack checks and
 * answering as Slack's documentation says (a status and a short plain-text error):
 *
 * - the path must be a webhook it made (`hook()`), `/services/T…/B…/<secret>`: else
 *   404 `no_service`;
 * - `Content-Type: application/json` with a JSON object: else 400 `invalid_payload`;
 * - `text` a string, or `blocks`: else 400 `no_text`;
 * - `blocks`, when sent, an array of objects with a string `type`: else 400 `invalid_blocks`;
 * - success: 200 with the body `ok`.
 *
 * Answers can be scripted per webhook (`script`), each used once in order before the checks:
 * 410 `channel_is_archived`, 500 `rollup_error`, 429 with Retry-After...
 */
import { randomBytes } from 'node:crypto';
import {
  isJsonRequest,
  objectBody,
  startHttpService,
  type RecordedRequest,
  type Reply,
} from './http-service.js';

export interface SlackServer {
  origin: string;
  /** A new incoming webhook URL of this server. */
  hook(): string;
  /** A URL of the right shape that this server never made (it answers 404 no_service). */
  unknownHook(): string;
  /** The requests to the webhook `url`, in order. */
  requestsTo(url: string): RecordedRequest[];
  /** Answers for the webhook `url`, each used once before the checks. */
  script(url: string, ...answers: Reply[]): void;
  close(): Promise<void>;
}

/** Slack's error answer: the status and the error string as plain text. */
export const slackError = (
  status: number,
  error: string,
  headers?: Record<string, string>,
): Reply => ({ status, body: error, ...(headers ? { headers } : {}) });

const isBlock = (b: unknown) =>
  typeof b === 'object' && b !== null && typeof (b as { type?: unknown }).type === 'string';

export async function startSlackServer(): Promise<SlackServer> {
  const hooks = new Set<string>();
  const scripts = new Map<string, Reply[]>();
  const path = () =>
    `/services/T${randomBytes(4).toString('hex').toUpperCase()}/B${randomBytes(4).toString('hex').toUpperCase()}/${randomBytes(12).toString('hex')}`;
  const service = await startHttpService({}, (req) => {
    const answer = (reply: Reply) => ({ reply, recipient: req.path });
    if (!hooks.has(req.path)) return answer(slackError(404, 'no_service'));
    const scripted = scripts.get(req.path)?.shift();
    if (scripted) return answer(scripted);
    const body = objectBody(req);
    if (req.method !== 'POST' || !isJsonRequest(req) || !body)
      return answer(slackError(400, 'invalid_payload'));
    const { text, blocks } = body;
    if (text !== undefined && typeof text !== 'string')
      return answer(slackError(400, 'invalid_payload'));
    if (!text && blocks === undefined) return answer(slackError(400, 'no_text'));
    if (blocks !== undefined && !(Array.isArray(blocks) && blocks.every(isBlock)))
      return answer(slackError(400, 'invalid_blocks'));
    return answer({ status: 200, headers: { 'content-type': 'text/html' }, body: 'ok' });
  });
  const pathOf = (url: string) => new URL(url).pathname;
  return {
    origin: service.url,
    hook() {
      const p = path();
      hooks.add(p);
      return `${service.url}${p}`;
    },
    unknownHook: () => `${service.url}${path()}`,
    requestsTo: (url) => service.requestsFor(pathOf(url)),
    script(url, ...answers) {
      const p = pathOf(url);
      scripts.set(p, [...(scripts.get(p) ?? []), ...answers]);
    },
    close: () => service.close(),
  };
}
