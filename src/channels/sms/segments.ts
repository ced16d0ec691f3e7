/**
 * Phone numbers and SMS segments: what an SMS provider checks before it sends.
 *
 * Segments follow GSM 03.38 / 3GPP TS 23.040. A body whose characters are all in the GSM-7
 * alphabet (basic set, or the extension set at two septets each) fits 160 septets in one SMS,
 * else 153 per segment (7 go to the concatenation header). Any other character makes the whole
 * body UCS-2: 70 UTF-16 code units in one SMS, else 67 per segment; an emoji outside the BMP
 * takes two. A character is never split across segments (an escape pair or surrogate pair that
 * would straddle a boundary moves to the next segment), as handsets and carriers do.
 */

/** E.164: a `+`, a country code not starting with 0, at most 15 digits in all. */
const E164 = /^\+[1-9]\d{1,14}$/;

export const isE164 = (phone: string): boolean => E164.test(phone);

// The GSM 03.38 basic character set (one septet each).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
    '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
// The extension table, reached with an escape: two septets each.
const GSM_EXTENDED = new Set('\f^{}\\[~]|€');

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegments {
  encoding: SmsEncoding;
  /** How many SMS the body is sent as. 1 for an empty body. */
  segments: number;
}

/** Counts units into segments of `per` without splitting a unit of width 2. */
function pack(widths: number[], single: number, per: number): number {
  const total = widths.reduce((a, b) => a + b, 0);
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const w of widths) {
    if (used + w > per) {
      segments += 1;
      used = 0;
    }
    used += w;
  }
  return segments;
}

/** The encoding and segment count of an SMS body. */
export function smsSegments(body: string): SmsSegments {
  const chars = [...body];
  if (chars.every((c) => GSM_BASIC.has(c) || GSM_EXTENDED.has(c))) {
    const widths = chars.map((c) => (GSM_EXTENDED.has(c) ? 2 : 1));
    return { encoding: 'GSM-7', segments: pack(widths, 160, 153) };
  }
  // UTF-16 code units: one per BMP character, two per astral one (a surrogate pair).
  const widths = chars.map((c) => c.length);
  return { encoding: 'UCS-2', segments: pack(widths, 70, 67) };
}
