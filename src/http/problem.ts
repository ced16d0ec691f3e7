/**
 * RFC 9457 problem+json answers with a stable machine `code`; validation problems list each
 * bad field. Every error the API returns goes through here (see onError in app.ts).
 */
import { HeraldError, type FieldIssue } from '../errors.js';

/** The HTTP status of each problem code (the OpenAPI document lists them from here too). */
export const STATUS: Record<string, number> = {
  validation_failed: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  idempotency_conflict: 409,
  unknown_type: 422,
  unknown_recipient: 422,
  invalid_token: 400,
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

/** The answer for a thrown error: HeraldErrors keep their code; anything else is a 500. */
export function problemFor(err: unknown): Response {
  if (err instanceof HeraldError) {
    return problem(STATUS[err.code] ?? 500, err.code, err.message, err.issues);
  }
  return problem(500, 'internal', 'an unexpected error; the server log has the details');
}
