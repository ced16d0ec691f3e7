/**
 * The HTTP call of the SMS and WhatsApp providers: one POST with a timeout, its answer read
 * whole. It throws only what fetch throws (connection refused, timeout, abort); every answer,
 * 2xx or not, comes back for the provider's classify function to read.
 */
import { toError } from '../../errors.js';
import { ProviderError } from '../provider.js';

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  text: string;
}

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
  },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, {
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
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
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

/**
 * A Retry-After header (delay-seconds or an HTTP date) in ms, or `fallback` when absent or
 * unreadable.
 */
export function retryAfterMs(header: string | null, fallback: number, now = Date.now()): number {
  if (!header) return fallback;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? fallback : Math.max(0, at - now);
}

/** Strips a trailing slash so `${base}/path` has exactly one. */
export const trimBase = (url: string): string => url.replace(/\/+$/, '');

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

/** Whether a failure is an answer (`post` resolved) rather than what fetch threw. */
export const isHttpAnswer = (x: unknown): x is HttpAnswer =>
  typeof x === 'object' && x !== null && 'status' in x && 'headers' in x && 'text' in x;

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
