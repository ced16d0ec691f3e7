/**
 * The HTTP call every HTTP provider makes (SMS, WhatsApp, the email APIs, webhook and Slack):
 * one POST with a timeout, its answer read whole (or up to a bound), and the reading of
 * `Retry-After`. Each provider classifies the answer itself, since only it knows what its
 * service's codes mean.
 *
 * Contract: `post` and `postJson` resolve with any HTTP answer, 2xx or not. `post` throws what
 * fetch threw (connection refused or reset, DNS, the timeout or the caller's signal), which
 * `noAnswerError` makes a transient `ProviderError`; `postJson` throws a `NoAnswerError` for
 * the same, which `noAnswerToProviderError` classifies as transient too: the same request may
 * go through later.
 */
import { toError } from '../errors.js';
import { ProviderError } from './provider.js';

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
 * past is 0. Undefined when absent or unreadable. The one reading of the header in Herald.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now = Date.now(),
): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A Retry-After header in ms, or `fallback` when absent or unreadable. */
export const retryAfterMs = (header: string | null, fallback: number, now = Date.now()): number =>
  parseRetryAfter(header, now) ?? fallback;

/** The Retry-After of a 429 answer, else `HTTP_RATE_LIMIT_RETRY_MS`. */
export const retryAfterOf = (answer: HttpAnswer): number =>
  retryAfterMs(answer.headers.get('retry-after'), HTTP_RATE_LIMIT_RETRY_MS);

/** Strips trailing slashes so `${base}/path` has exactly one. */
export const trimBase = (url: string): string => url.replace(/\/+$/, '');

/** The base URL without trailing slashes, joined with `path`. */
export const joinUrl = (base: string, path: string): string => trimBase(base) + path;

/** Whether a failure is an answer (`post` resolved) rather than what fetch threw. */
export const isHttpAnswer = (x: unknown): x is HttpAnswer =>
  typeof x === 'object' && x !== null && 'status' in x && 'headers' in x && 'text' in x;

/**
 * POSTs `body` to `url`, giving up after `timeoutMs` or when `signal` aborts. `redirect:
 * 'manual'` answers a 3xx as it is instead of following it; `maxAnswerBytes` reads no more of
 * the answer than that (for URLs anyone may run: webhook/http.ts).
 */
export async function post(
  url: string,
  init: {
    headers: Record<string, string>;
    body: string;
    redirect?: 'follow' | 'manual';
    maxAnswerBytes?: number;
    fetch?: FetchFn;
  },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await (init.fetch ?? fetch)(url, {
    method: 'POST',
    headers: init.headers,
    body: init.body,
    redirect: init.redirect ?? 'follow',
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const text =
    init.maxAnswerBytes === undefined ? await res.text() : await textUpTo(res, init.maxAnswerBytes);
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The first `max` bytes of an answer's body as text; the rest is not read. */
async function textUpTo(res: Response, max: number): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < max) {
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** POSTs `form` as `application/x-www-form-urlencoded`, asking for JSON. */
export const postForm = (
  url: string,
  form: URLSearchParams,
  timeoutMs: number,
  signal?: AbortSignal,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> =>
  post(
    url,
    {
      headers: {
        ...headers,
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: form.toString(),
    },
    timeoutMs,
    signal,
  );

/**
 * What fetch threw (connection refused or reset, DNS, timeout) as a transient error of
 * `service`: no answer came, so the message may well go through later.
 */
export function noAnswerError(service: string, thrown: unknown): ProviderError {
  const err = toError(thrown);
  // fetch says only "fetch failed"; its cause says why (ECONNREFUSED, ENOTFOUND...).
  const cause = (err.cause as { code?: unknown } | undefined)?.code;
  const code = typeof cause === 'string' ? cause : undefined;
  const why = err.name === 'TimeoutError' ? 'no answer in time' : err.message;
  return new ProviderError(
    'transient',
    `${service}: ${why}${code ? ` (${code})` : ''}`,
    undefined,
    code ?? err.name,
  );
}

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

/** POSTs `options.body` as JSON, asking for JSON; a `NoAnswerError` when no answer came. */
export async function postJson(options: PostJsonOptions): Promise<HttpAnswer> {
  const timeoutMs = options.timeoutMs ?? HTTP_PROVIDER_TIMEOUT_MS;
  try {
    return await post(
      options.url,
      {
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...options.headers,
        },
        body: JSON.stringify(options.body),
        ...(options.fetch ? { fetch: options.fetch } : {}),
      },
      timeoutMs,
      options.signal,
    );
  } catch (thrown) {
    // AbortSignal.timeout's reason is a TimeoutError; the caller's abort is not.
    const timedOut = toError(thrown).name === 'TimeoutError';
    throw new NoAnswerError(options.url, thrown, timedOut ? timeoutMs : undefined);
  }
}
