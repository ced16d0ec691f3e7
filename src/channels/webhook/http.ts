/**
 * The HTTP side of the webhook and Slack providers: one POST of JSON to a URL a recipient or a
 * type named. The other end is anyone's server, so it goes through the egress guard
 * (net/egress.ts):
 *
 * - only public addresses (else `egress_refused`, permanent), connected to as checked;
 * - redirects are never followed (a redirect could send a signed notification to another
 *   host): `egress_redirect`, permanent;
 * - at most `ANSWER_BYTES` of the answer are read (it only explains a failure);
 * - it gives up after `timeoutMs`, or when `signal` aborts (the job's lease was lost).
 *
 * Every failure, an answer that is not 2xx or what the guard threw, goes through the
 * provider's classify function, which calls `classifyHookFailure`.
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
import { isHttpAnswer, retryAfterMs, type HttpAnswer } from '../http.js';
import { hookUrlProblem } from './url.js';
import { EgressError, makeEgress, type Egress } from '../../net/egress.js';

/** How much of an answer is kept. */
export const ANSWER_BYTES = 4096;

/**
 * Posts `body` to `url` through `egress` and answers the 2xx answer, or throws what `classify`
 * makes of the failure. A URL that `hookUrlSchema` would refuse fails at once, before any
 * request.
 */
export async function postHook(
  service: string,
  request: { url: string; headers: Record<string, string>; body: string; timeoutMs: number },
  classify: (failure: unknown) => ProviderError,
  signal?: AbortSignal,
  egress: Egress = defaultEgress(),
): Promise<HttpAnswer> {
  const problem = hookUrlProblem(request.url);
  if (problem) throw new ProviderError('permanent', `${service}: the URL ${problem}`);
  let answer: HttpAnswer;
  try {
    const got = await egress.request(request.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...request.headers },
      body: request.body,
      timeoutMs: request.timeoutMs,
      signal,
      maxAnswerBytes: ANSWER_BYTES,
    });
    const text = got.body.toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    answer = { status: got.status, headers: got.headers, json, text };
  } catch (err) {
    throw classify(err);
  }
  if (answer.status < 200 || answer.status >= 300) throw classify(answer);
  return answer;
}

let shared: Egress | undefined;
/** A guard without an allow-list, for providers made without one. */
const defaultEgress = () => (shared ??= makeEgress());

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
  /** The egress guard (default: one without an allow-list). */
  egress?: Egress | undefined;
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
        spec.egress,
      );
      log.debug({ deliveryId: message.deliveryId, status: answer.status }, `${spec.channel}:sent`);
      return { providerMessageId: message.deliveryId };
    },
  };
}

/**
 * How a failed post becomes a `ProviderError`, for both providers:
 *
 * - refused by the egress guard, or a redirect (not followed): permanent, `providerCode` the
 *   guard's code (`egress_refused`, `egress_redirect`);
 * - no answer (no such name, connection refused or reset, TLS, timeout): transient,
 *   `egress_unreachable`, one text whatever the cause;
 * - 429: rate_limited, after Retry-After when given, else `rateLimitMs`;
 * - 408 and 5xx: transient;
 * - every other 4xx (410 Gone included): permanent.
 *
 * The error text is the status and a fixed phrase, never the answer's body (a URL anyone
 * chooses must not make Herald a reader of other servers' pages). `explain` may name the
 * service's own code when the answer is one it documents (Slack's `no_service`): then it is
 * the `providerCode` and its meaning the text; else the status is the code.
 */
export function classifyHookFailure(
  service: string,
  failure: unknown,
  rateLimitMs: number,
  explain: (answer: HttpAnswer) => { code: string; text: string } | undefined = () => undefined,
): ProviderError {
  if (failure instanceof ProviderError) return failure;
  if (failure instanceof EgressError)
    return new ProviderError(
      failure.kind,
      `${service}: ${failure.message}`,
      undefined,
      failure.code,
    );
  if (!isHttpAnswer(failure))
    return classifyHookFailure(service, new EgressError('egress_unreachable'), rateLimitMs);
  const { status } = failure;
  const own = explain(failure);
  const providerCode = own?.code ?? String(status);
  const make = (kind: ProviderErrorKind, text: string, retryMs?: number) =>
    new ProviderError(
      kind,
      `${service} ${status}${own ? ` (${own.code})` : ''}: ${text}`,
      retryMs,
      providerCode,
    );
  if (status === 429)
    return make(
      'rate_limited',
      own?.text ?? 'the receiver asks Herald to slow down',
      retryAfterMs(failure.headers.get('retry-after'), rateLimitMs),
    );
  const said = own?.text ?? PHRASES[kind(status)];
  return make(kind(status), said);
}

/** 408 and 5xx may pass; other 4xx (and anything odd) will not. */
const kind = (status: number): 'transient' | 'permanent' =>
  status === 408 || status >= 500 ? 'transient' : 'permanent';

const PHRASES = {
  transient: 'the receiver failed or was busy; it is tried again',
  permanent: 'the receiver refused the request; check the URL (and, for webhooks, the signature)',
};
