/**
 * Structured JSON logs (pino). Library code never writes to the console: it logs through a
 * child of the logger it was given, with the ids of what it works on as fields. Every line
 * goes through redact (obs/redact.ts): no email address, phone number, token or URL path
 * from an error reaches the log.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { redact, redactError } from './redact.js';

export type { Logger };

export function makeLogger(
  level: string = process.env.HERALD_LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    level,
    base: { pid: process.pid, name: 'herald' },
    formatters: { log: (fields: Record<string, unknown>) => redactFields(fields, 0) },
    hooks: {
      logMethod(this: Logger, args: unknown[], method: (...a: unknown[]) => void) {
        method.apply(
          this,
          args.map((a) => (typeof a === 'string' ? redact(a) : a)),
        );
      },
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** A log line's fields with every string redacted and errors as redacted {type, message, stack}. */
function redactFields(fields: Record<string, unknown>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) out[key] = redactValue(value, depth);
  return out;
}

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redact(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return {
      type: value.name,
      message: redact(value.message),
      stack: redactError(value),
      ...(code !== undefined ? { code } : {}),
    };
  }
  if (depth >= 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return redactFields(value as Record<string, unknown>, depth + 1);
}
