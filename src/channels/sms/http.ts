/**
 * The HTTP call of the SMS and WhatsApp providers: one POST with a timeout, its answer read
 * whole. It throws only what fetch throws (connection refused, timeout, abort); every answer,
 * 2xx or not, comes back for the provider's classify function to read.
 */

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  text: string;
}

/** POSTs `body` to `url`, giving up after `timeoutMs` or when `signal` aborts. */
export async function post(
  url: string,
  init: { headers: Record<string, string>; body: string },
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<HttpAnswer> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const res = await fetch(url, {
    method: 'POST',
    headers: init.headers,
    body: init.body,
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
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
