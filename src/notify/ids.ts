/**
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Made here rather than by
 * the database so a trigger knows its rows' ids before writing them (batch inserts, job
 * payloads), and time-ordered so new rows land at the right-hand edge of the index.
 *
 * A trigger makes two ids per recipient (notification and delivery), so the random bits come
 * from a pool filled 256 ids at a time (one `randomFillSync` instead of a `randomBytes` call
 * and a Buffer per id; as the `uuid` package does).
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const pool = new Uint8Array(16 * POOL_IDS);
let next = POOL_IDS;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function uuidv7(now = Date.now()): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const r = 16 * next++;
  // 48-bit milliseconds, big-endian: the high 16 bits and the low 32 bits.
  const hi = Math.floor(now / 0x1_0000_0000);
  const lo = now >>> 0;
  const h = (n: number) => HEX[n & 0xff] as string;
  const b = (i: number) => HEX[pool[r + i] as number] as string;
  return (
    h(hi >>> 8) +
    h(hi) +
    h(lo >>> 24) +
    h(lo >>> 16) +
    '-' +
    h(lo >>> 8) +
    h(lo) +
    '-' +
    h(0x70 | ((pool[r + 6] as number) & 0x0f)) + // version 7
    b(7) +
    '-' +
    h(0x80 | ((pool[r + 8] as number) & 0x3f)) + // variant 10
    b(9) +
    '-' +
    b(10) +
    b(11) +
    b(12) +
    b(13) +
    b(14) +
    b(15)
  );
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

/**
 * The first UUIDv7 of the millisecond `ms`: ids made at or after it compare at or above it, so
 * a time range is an id range the primary key answers (notification lists, retention).
 */
export function firstIdAt(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8)}-0000-0000-000000000000`;
}
