/**
 * Checks a JobSpec before anything is written, and turns it into the row to insert.
 * Every broken rule is reported at once, per field.
 */
import { ValidationError, type FieldIssue } from '../errors.js';
import type { JobSpec } from '../types.js';
import {
  isStorableText,
  nestedDeeperThan,
  TOO_DEEP_MESSAGE,
  UNSTORABLE_MESSAGE,
} from '../validation.js';

/** The default payload limit: 256 KiB of JSON, as on hosted queue services. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;
/** The most a configured limit may be: the database constraint allows no more (see 0001). */
export const MAX_PAYLOAD_BYTES_CEILING = 256 * 1024;

const INT32_MAX = 2_147_483_647;

export interface JobRow {
  queue: string;
  kind: string;
  /** The payload as JSON text. */
  payload: string;
  priority: number;
  run_at: string | null;
  delay_ms: number | null;
  max_attempts: number;
  key: string | null;
}

export function toJobRow(spec: JobSpec, maxPayloadBytes: number, prefix = ''): JobRow {
  const issues: FieldIssue[] = [];
  const bad = (field: string, message: string) => issues.push({ field: prefix + field, message });

  if (spec === null || typeof spec !== 'object') {
    throw new ValidationError([{ field: prefix || 'job', message: 'must be an object' }]);
  }
  const name = (field: 'kind' | 'queue', value: unknown) => {
    if (typeof value !== 'string' || value.length < 1 || value.length > 200) {
      bad(field, 'must be a string of 1 to 200 characters');
    }
  };
  name('kind', spec.kind);
  if (spec.queue !== undefined) name('queue', spec.queue);

  let payload = '{}';
  let tooLarge = false;
  if (spec.payload !== undefined) {
    try {
      payload = JSON.stringify(spec.payload, strictJson);
      const bytes = Buffer.byteLength(payload, 'utf8');
      // Serialised, so not cyclic: safe to walk. jsonb refuses very deep nesting.
      if (nestedDeeperThan(spec.payload)) bad('payload', TOO_DEEP_MESSAGE);
      else if (bytes > maxPayloadBytes) {
        tooLarge = true;
        bad('payload', `is ${bytes} bytes as JSON; the limit is ${maxPayloadBytes}`);
      }
    } catch (err) {
      bad('payload', `is not JSON-serialisable: ${(err as Error).message}`);
    }
  }

  if (spec.runAt !== undefined && spec.delayMs !== undefined) {
    bad('runAt', 'give runAt or delayMs, not both');
  }
  if (
    spec.runAt !== undefined &&
    !(spec.runAt instanceof Date && !Number.isNaN(spec.runAt.getTime()))
  ) {
    bad('runAt', 'must be a valid Date');
  }
  if (spec.delayMs !== undefined) {
    if (typeof spec.delayMs !== 'number' || !Number.isFinite(spec.delayMs))
      bad('delayMs', 'must be a finite number');
    else if (spec.delayMs < 0) bad('delayMs', 'must not be negative');
  }
  if (spec.priority !== undefined && !isIntIn(spec.priority, -INT32_MAX, INT32_MAX)) {
    bad('priority', 'must be an integer');
  }
  if (spec.maxAttempts !== undefined && !isIntIn(spec.maxAttempts, 1, 1000)) {
    bad('maxAttempts', 'must be an integer from 1 to 1000');
  }
  if (
    spec.key !== undefined &&
    (typeof spec.key !== 'string' || spec.key.length < 1 || spec.key.length > 512)
  ) {
    bad('key', 'must be a string of 1 to 512 characters');
  }
  if (spec.replace !== undefined && typeof spec.replace !== 'boolean')
    bad('replace', 'must be a boolean');
  if (spec.replace && spec.key === undefined) bad('replace', 'needs a key');

  if (issues.length > 0) {
    throw new ValidationError(
      issues,
      tooLarge && issues.length === 1 ? 'payload_too_large' : 'validation_failed',
    );
  }
  return {
    queue: spec.queue ?? 'default',
    kind: spec.kind,
    payload,
    priority: spec.priority ?? 0,
    run_at: spec.runAt ? spec.runAt.toISOString() : null,
    delay_ms: spec.delayMs ?? null,
    max_attempts: spec.maxAttempts ?? 25,
    key: spec.key ?? null,
  };
}

function isIntIn(v: unknown, min: number, max: number): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * JSON.stringify silently drops functions and symbols and turns NaN into null; a payload
 * that would change on the way through the queue is refused instead. (An `undefined`
 * property is dropped, as JSON has no undefined and optional fields are often unset.)
 */
function strictJson(key: string, value: unknown): unknown {
  const what = key ? `"${key}"` : 'the value';
  if (!isStorableText(key)) throw new TypeError(`a key ${UNSTORABLE_MESSAGE}`);
  switch (typeof value) {
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new TypeError(`${what} is a ${typeof value}`);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${what} is ${String(value)}`);
      return value;
    case 'string':
      if (!isStorableText(value)) throw new TypeError(`${what} ${UNSTORABLE_MESSAGE}`);
      return value;
    default:
      return value;
  }
}
