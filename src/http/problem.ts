/**
 * RFC 9457 problem+json answers with a stable machine `code`; validation problems list each
 * bad field. Every error the API returns goes through here (see onError in app.ts).
 */
import { HeraldError, type FieldIssue } from '../errors.js';
import { isDatabaseLost } from '../db/faults.js';

/** Seconds a client is asked to wait (Retry-After) when the database is lost. */
export const DATABASE_RETRY_AFTER_S = 5;

/** The HTTP status of each problem code (the OpenAPI document lists them from here too). */
export const STATUS: Record<string, number> = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  upgrade_required: 426,
  conflict: 409,
  idempotency_conflict: 409,
  unknown_type: 422,
  unknown_recipient: 422,
  missing_template_data: 422,
  template_too_expensive: 422,
  unsafe_action_url: 422,
  invalid_token: 400,
  link_expired: 410,
  payload_too_large: 413,
  rate_limited: 429,
  provider_unreachable: 502,
  database_unreachable: 503,
  not_ready: 503,
};

export function problem(
  status: number,
  code: string,
  detail: string,
  errors?: FieldIssue[],
): Response {
  const body = {
    type: `https://herald.dev/problems/${code}`,
    title: code.replace(/_/g, ' '),
    status,
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

/**
 * The 503 of a lost database (refused, terminated, timed out, shutting down): a fixed text,
 * since the driver's message can name hosts and users (the log has it), and Retry-After.
 */
export function databaseUnreachable(): Response {
  const res = problem(
    503,
    'database_unreachable',
    `the database cannot be reached right now; retry in ${DATABASE_RETRY_AFTER_S} seconds (the server log has the details)`,
  );
  res.headers.set('retry-after', String(DATABASE_RETRY_AFTER_S));
  return res;
}

/**
 * The answer for a thrown error: a lost database is a 503 on every route (see
 * db/faults.ts); HeraldErrors keep their code; anything else is a 500.
 */
export function problemFor(err: unknown): Response {
  if (isDatabaseLost(err)) return databaseUnreachable();
  if (err instanceof HeraldError) {
    return problem(STATUS[err.code] ?? 500, err.code, err.message, err.issues);
  }
  return problem(500, 'internal', 'an unexpected error; the server log has the details');
}
