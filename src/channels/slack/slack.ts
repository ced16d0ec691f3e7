/**
 * Slack incoming webhooks (docs/providers.md#slack): `POST <https://hooks.slack.com/services/
 * T…/B…/…>` with a JSON body `{text, blocks?}`. The URL is the recipient's `slackWebhookUrl`,
 * else the type's `slack.url`; it names the workspace and channel, and is the only credential,
 * so Herald needs no Slack setting.
 *
 * The slack template is `{text, blocks?}`: `blocks` renders to a JSON array of Block Kit blocks
 * (checked here; what is not an array fails the delivery as permanent, as WhatsApp components
 * do) and `text` is then the notification's fallback text. Values from the data are escaped
 * for Slack when rendered (render.ts), so they cannot mention `@channel` or make links.
 *
 * Slack answers `200 ok`, or a status with a short plain-text error (classifySlackError).
 * Contract: `send` resolves once Slack answered 2xx (there is no message id: the delivery id
 * stands in), or throws a `ProviderError`. It never retries by itself, and never follows a
 * redirect.
 */
import type { Logger } from '../../obs/log.js';
import { ProviderError, type Provider } from '../provider.js';
import { classifyHookFailure, makeHookProvider } from '../webhook/http.js';
import type { Egress } from '../../net/egress.js';

/** How long a 429 without Retry-After waits (Slack sends one; about 1 message a second). */
export const SLACK_RATE_LIMIT_RETRY_MS = 30_000;

/** What Slack's error strings mean, for the delivery's error text. */
const MEANINGS: Record<string, string> = {
  invalid_payload: 'Slack could not read the message as JSON',
  invalid_blocks: 'the blocks are not valid Block Kit',
  invalid_blocks_format: 'the blocks are not an array of Block Kit blocks',
  no_text: 'the message has no text',
  too_many_attachments: 'the message has too many attachments',
  action_prohibited: 'the workspace does not let this webhook post there',
  posting_to_general_channel_denied: 'only admins may post to that channel',
  invalid_token: 'the webhook URL is no longer valid',
  no_service: 'the webhook URL is gone (removed, or its app uninstalled)',
  no_service_id: 'the webhook URL is incomplete',
  no_team: 'the workspace is gone',
  team_disabled: 'the workspace is disabled',
  channel_not_found: 'the channel of the webhook is gone',
  channel_is_archived: 'the channel of the webhook is archived',
  rollup_error: 'Slack failed (its own error)',
  rate_limited: 'Slack is limiting this webhook (about one message a second)',
};

/**
 * The one place a Slack failure becomes a `ProviderError`:
 *
 * - no answer (connection refused, DNS, TLS, timeout), 408 and 5xx (`rollup_error`): transient;
 * - 429: rate_limited after Retry-After (else 30 s);
 * - 400 (`invalid_payload`, `invalid_blocks`, `no_text`...), 403 (`action_prohibited`,
 *   `invalid_token`), 404 (`no_service`, `channel_not_found`, `no_team`) and 410
 *   (`channel_is_archived`): permanent; the last three mean the URL is gone;
 * - a redirect (not followed) or a URL the egress guard refuses: permanent.
 *
 * `providerCode` is Slack's error string when it sent one of those above, else the HTTP status
 * (or the egress guard's code: `egress_refused`, `egress_redirect`, `egress_unreachable`).
 */
export function classifySlackError(failure: unknown): ProviderError {
  return classifyHookFailure('slack', failure, SLACK_RATE_LIMIT_RETRY_MS, (answer) => {
    // Only Slack's documented strings: any other answer is not quoted (the URL may not be
    // Slack's, and its text is no business of the delivery's error).
    const said = answer.text.trim();
    const meaning = Object.hasOwn(MEANINGS, said) ? MEANINGS[said] : undefined;
    return meaning ? { code: said, text: meaning } : undefined;
  });
}

/** The request body for the rendered content: `{text, blocks?}`. */
export function slackBody(content: Record<string, string>): { text: string; blocks?: unknown[] } {
  if (!content.text) throw new ProviderError('permanent', 'the rendered slack message has no text');
  if (!content.blocks?.trim()) return { text: content.text };
  let blocks: unknown;
  try {
    blocks = JSON.parse(content.blocks);
  } catch {
    throw new ProviderError('permanent', 'the rendered slack blocks are not JSON');
  }
  if (!Array.isArray(blocks))
    throw new ProviderError('permanent', 'the rendered slack blocks must be a JSON array');
  return { text: content.text, blocks };
}

export function makeSlackProvider(options: {
  timeoutMs?: number;
  log: Logger;
  /** The egress guard every post goes through (egressFromConfig). */
  egress?: Egress;
}): Provider {
  return makeHookProvider({
    channel: 'slack',
    request: (message) => ({
      url: message.to,
      headers: {},
      body: JSON.stringify(slackBody(message.content)),
    }),
    classify: classifySlackError,
    timeoutMs: options.timeoutMs ?? 10_000,
    log: options.log,
    egress: options.egress,
  });
}
