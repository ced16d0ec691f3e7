/**
 * The HTTP side of the webhook and Slack providers: one POST of JSON to a URL a recipient or a
 * type named (sms/http.ts's `post`), more careful than the SMS providers' calls, since the
 * other end is anyone's server:
 *
 * - redirects are never followed (a redirect could send a signed notification to another
 *   host): the 3xx comes back as the answer, and fails the delivery as permanent;
 * - at most `ANSWER_BYTES` of the answer are read (it only explains a failure);
 * - it gives up after `timeoutMs`, or when `signal` aborts (the job's lease was lost).
 *
 * Every failure, an answer that is not 2xx or what fetch threw, goes through the provider's
 * classify function, which calls `classifyHookFailure`.
 */
import type { Logger } from '../../obs/log.js';
import {
  ProviderError,
  type OutboundMessage,
  type Provider,
  type ProviderErrorKind,
  type SendResult,
  type TextMessage,
  type WebhookMessage,
} from '../provider.js';
import { isHttpAnswer, noAnswerError, post, retryAfterMs, type HttpAnswer } from '../http.js';
import { hookUrlProblem } from './url.js';

/** How much of an answer is kept. */
export const ANSWER_BYTES = 4096;

/**
 * Posts `body` to `url` and answers the 2xx answer, or throws what `classify` makes of the
 * failure. A URL that `hookUrlSchema` would refuse fails at once, before any request.
 */
export async function postHook(
  service: string,
  request: { url: string; headers: Record<string, string>; body: string; timeoutMs: number },
  classify: (failure: unknown) => ProviderError,
  signal?: AbortSignal,
): Promise<HttpAnswer> {
  const problem = hookUrlProblem(request.url);
  if (problem) throw new ProviderError('permanent', `${service}: the URL ${problem}`);
  let answer: HttpAnswer;
  try {
    answer = await post(
      request.url,
      {
        headers: { 'content-type': 'application/json', ...request.headers },
        body: request.body,
        redirect: 'manual',
        maxAnswerBytes: ANSWER_BYTES,
      },
      request.timeoutMs,
      signal,
    );
  } catch (err) {
    throw classify(err);
  }
  if (answer.status < 200 || answer.status >= 300) throw classify(answer);
  return answer;
}

type HookMessage<C extends 'webhook' | 'slack'> = C extends 'webhook'
  ? WebhookMessage
  : TextMessage;

/**
 * The provider of a URL-based channel: `request` makes the URL, headers and body of a message;
 * any 2xx answer is a send (the delivery id stands in for a message id), anything else what
 * `classify` makes of it.
 */
export function makeHookProvider<C extends 'webhook' | 'slack'>(spec: {
  channel: C;
  request: (message: HookMessage<C>) => {
    url: string;
    headers: Record<string, string>;
    body: string;
  };
  classify: (failure: unknown) => ProviderError;
  timeoutMs: number;
  log: Logger;
}): Provider {
  const log = spec.log.child({ provider: spec.channel });
  return {
    name: spec.channel,
    channel: spec.channel,
    async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
      if (message.channel !== spec.channel)
        throw new ProviderError(
          'permanent',
          `the ${spec.channel} provider was given a ${message.channel} message`,
        );
      const request = spec.request(message as HookMessage<C>);
      const answer = await postHook(
        spec.channel,
        { ...request, timeoutMs: spec.timeoutMs },
        spec.classify,
        signal,
      );
      log.debug({ deliveryId: message.deliveryId, status: answer.status }, `${spec.channel}:sent`);
      return { providerMessageId: message.deliveryId };
    },
  };
}

/**
 * How a failed post becomes a `ProviderError`, for both providers:
 *
 * - no answer (connection refused or reset, DNS, TLS, timeout): transient;
 * - 429: rate_limited, after Retry-After when given, else `rateLimitMs`;
 * - 408 and 5xx: transient;
 * - 3xx (not followed), and every other 4xx (410 Gone included): permanent.
 *
 * `explain` reads the service's own code from the answer (Slack's `no_service`: then it is the
 * `providerCode`, else the status is) and what it means (else the answer's text is quoted).
 */
export function classifyHookFailure(
  service: string,
  failure: unknown,
  rateLimitMs: number,
  explain: (answer: HttpAnswer) => { code?: string; text?: string } = () => ({}),
): ProviderError {
  if (failure instanceof ProviderError) return failure;
  if (!isHttpAnswer(failure)) return noAnswerError(service, failure);
  const { status } = failure;
  const { code: own, text } = explain(failure);
  const providerCode = own ?? String(status);
  const make = (kind: ProviderErrorKind, text: string, retryMs?: number) =>
    new ProviderError(
      kind,
      `${service} ${status}${own ? ` (${own})` : ''}: ${text}`,
      retryMs,
      providerCode,
    );
  const said = text ?? (failure.text.trim().slice(0, 200) || 'no error message');
  if (status >= 300 && status < 400) {
    const location = failure.headers.get('location') ?? 'nowhere';
    return make('permanent', `redirected to ${location}, not followed: set the final URL`);
  }
  if (status === 429)
    return make(
      'rate_limited',
      said,
      retryAfterMs(failure.headers.get('retry-after'), rateLimitMs),
    );
  if (status === 408 || status >= 500) return make('transient', said);
  return make(status >= 400 ? 'permanent' : 'transient', said);
}
