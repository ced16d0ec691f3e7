/**
 * What the HTTPS email providers (Resend, SendGrid, Postmark) share: one JSON POST with a
 * timeout, the answer read whole, and the reading of `Retry-After`. Each provider classifies
 * the answer itself (its `classifyXAnswer`), since only it knows what its service's codes mean.
 *
 * Contract: `postJson` resolves with any HTTP answer, 2xx or not; it throws a `NoAnswerError`
 * only when no answer came (connection refused, reset, DNS, the timeout or the caller's
 * signal), which every provider classifies as transient: the same request may go through later.
 */
import { toError } from '../../errors.js';
import { ProviderError } from '../provider.js';

/** A `rate_limited` answer without a usable Retry-After waits this long. */
export const HTTP_RATE_LIMIT_RETRY_MS = 60_000;

/** A request that has no answer after this long is abandoned (transient). */
export const HTTP_PROVIDER_TIMEOUT_MS = 30_000;

export type FetchFn = typeof fetch;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body as text ('' when empty). */
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/**
 * `Retry-After` in ms: delta-seconds (`120`) or an HTTP date (RFC 9110 §10.2.3); a date in the
 * past is 0. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The Retry-After of a 429 answer, else `HTTP_RATE_LIMIT_RETRY_MS`. */
export const retryAfterOf = (answer: HttpAnswer): number =>
  parseRetryAfter(answer.headers.get('retry-after')) ?? HTTP_RATE_LIMIT_RETRY_MS;

/** The base URL without trailing slashes, joined with `path`. */
export const joinUrl = (base: string, path: string): string => base.replace(/\/+$/, '') + path;

export interface PostJsonOptions {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  fetch?: FetchFn;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A request that got no HTTP answer: refused, reset, DNS, timed out or aborted. */
export class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
  /** `timeout`, or the system code (`ECONNREFUSED`...), or the error's name. */
  readonly code: string;
  constructor(url: string, thrown: unknown, timedOutAfterMs?: number) {
    const err = toError(thrown);
    const cause = toError((err as { cause?: unknown }).cause ?? err);
    super(
      `no answer from ${url}: ${timedOutAfterMs !== undefined ? `timed out after ${timedOutAfterMs} ms` : cause.message}`,
    );
    this.code =
      timedOutAfterMs !== undefined ? 'timeout' : ((cause as { code?: string }).code ?? err.name);
  }
}

/** What every provider makes of a `NoAnswerError` (or anything else thrown): transient. */
export const noAnswerToProviderError = (thrown: unknown): ProviderError =>
  thrown instanceof ProviderError
    ? thrown
    : new ProviderError(
        'transient',
        toError(thrown).message,
        undefined,
        thrown instanceof NoAnswerError ? thrown.code : undefined,
      );

export const isHttpAnswer = (x: unknown): x is HttpAnswer =>
  typeof x === 'object' && x !== null && 'status' in x && 'headers' in x && 'text' in x;

export async function postJson(options: PostJsonOptions): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? HTTP_PROVIDER_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const doFetch = options.fetch ?? fetch;
  try {
    const res = await doFetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...options.headers,
      },
      body: JSON.stringify(options.body),
      signal,
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  } catch (thrown) {
    throw new NoAnswerError(options.url, thrown, timeout.aborted ? timeoutMs : undefined);
  }
}
