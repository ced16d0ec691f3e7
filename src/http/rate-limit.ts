/**
 * Per-API-key request rate limit (HERALD_API_RATE_LIMIT): a token bucket per key, in this
 * process's memory. A bucket holds `burst` requests and refills at `rate` per second; a
 * request that finds it empty is refused 429 `rate_limited` with Retry-After, before its
 * handler runs, so it changes nothing.
 *
 * Why in memory and per process: the limit protects the process (and the database behind
 * it) from one runaway client; it is not a billing quota. N API processes let a key through at
 * up to N × rate, which docs/security.md says. A shared limit would cost a database round trip
 * on every request, and the send-rate limits that must hold across machines
 * (channels/rate-limit.ts) already do that where it matters.
 */
import { createMiddleware } from 'hono/factory';
import type { AuthEnv } from './auth.js';
import { problem } from './problem.js';

export interface RateLimitOptions {
  /** Requests per second a key may make, sustained. */
  rate: number;
  /** Requests a key may make at once after a quiet spell. */
  burst: number;
  /** Keys remembered; the least recently seen is forgotten past this (its bucket starts full). */
  maxKeys?: number;
  /** Milliseconds now (tests move it by hand). */
  now?: () => number;
}

export type Take = { ok: true; remaining: number } | { ok: false; retryAfterS: number };

interface Bucket {
  tokens: number;
  at: number;
}

export interface TokenBuckets {
  take(key: string): Take;
  /** Keys with a bucket now (bounded by maxKeys). */
  readonly size: number;
}

export function tokenBuckets(options: RateLimitOptions): TokenBuckets {
  const { rate, burst } = options;
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  // A Map keeps insertion order: re-inserting on each use makes the first key the least
  // recently used one, which is the one forgotten when the map is full.
  const buckets = new Map<string, Bucket>();

  return {
    take(key) {
      const t = now();
      const seen = buckets.get(key);
      const bucket = seen ?? { tokens: burst, at: t };
      if (seen) buckets.delete(key);
      bucket.tokens = Math.min(burst, bucket.tokens + (Math.max(0, t - bucket.at) / 1000) * rate);
      bucket.at = t;
      buckets.set(key, bucket);
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { ok: true, remaining: Math.floor(bucket.tokens) };
      }
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - bucket.tokens) / rate)) };
    },
    get size() {
      return buckets.size;
    },
  };
}

/** Refuses a key's request past its bucket; runs after requireKey (it needs the key's id). */
export function limitRequests(buckets: TokenBuckets, rate: number) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const taken = buckets.take(c.get('realm').keyId);
    if (!taken.ok) {
      const res = problem(
        429,
        'rate_limited',
        `this API key is over its limit of ${rate} requests per second (HERALD_API_RATE_LIMIT); retry after ${taken.retryAfterS} s`,
      );
      res.headers.set('retry-after', String(taken.retryAfterS));
      return res;
    }
    await next();
  });
}
