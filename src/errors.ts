/**
 * Herald's named errors. Every error a user can cause carries a stable machine `code`
 * (the same codes the HTTP API puts in problem+json bodies) and a message that says what
 * to do next.
 */

export type ErrorCode =
  | 'validation_failed'
  | 'payload_too_large'
  | 'not_found'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'idempotency_conflict'
  | 'unknown_type'
  | 'unknown_recipient'
  | 'missing_template_data'
  | 'template_too_expensive'
  | 'unsafe_action_url'
  | 'invalid_token'
  | 'link_expired'
  | 'database_unreachable'
  | 'schema_too_new'
  | 'config_invalid'
  | 'internal';

/** One bad field of an input, as listed in a validation error. */
export interface FieldIssue {
  field: string;
  message: string;
}

export class HeraldError extends Error {
  override readonly name: string = 'HeraldError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }
}

/** Input that breaks a documented rule; nothing was written. */
export class ValidationError extends HeraldError {
  override readonly name = 'ValidationError';
  constructor(issues: FieldIssue[], code: ErrorCode = 'validation_failed') {
    super(code, issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues);
  }
}

/** Whatever was thrown, as an Error (handlers may throw strings or objects). */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (typeof thrown === 'string') return new Error(thrown);
  try {
    return new Error(JSON.stringify(thrown));
  } catch {
    return new Error(String(thrown));
  }
}
