/**
 * Structured JSON logs (pino). Library code never writes to the console: it logs through a
 * child of the logger it was given, with the ids of what it works on as fields.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function makeLogger(level: string = process.env.HERALD_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid, name: 'herald' } });
}
