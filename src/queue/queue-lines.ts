/**
 * The queue's status rows (one per queue, kind and status, queue.ts `status`) as one line per
 * queue and kind, with the kinds an operator paused: what `herald status`, the console's Jobs
 * page and its overview show.
 */
import type { QueueStatusRow } from './queue.js';

/** One kind of job on one queue, its statuses side by side. */
export interface QueueLine {
  queue: string;
  kind: string;
  queued: number;
  processing: number;
  dead: number;
  cancelled: number;
  /** How long the oldest due queued job has waited, in ms; null when none is due. */
  oldestDueLagMs: number | null;
  /** Whether a live worker handles this kind on this queue. */
  handled: boolean;
  /** Paused by an operator (the console's Jobs page): claims skip it until resumed. */
  paused: boolean;
}

/** One line per queue and kind; a paused kind with no jobs gets a line too (not forgotten). */
export function queueLines(
  rows: QueueStatusRow[],
  paused: { queue: string; kind: string }[] = [],
): QueueLine[] {
  const lines = new Map<string, QueueLine>();
  const isPaused = new Set(paused.map((p) => `${p.queue}\n${p.kind}`));
  const line = (queue: string, kind: string): QueueLine => {
    const key = `${queue}\n${kind}`;
    let found = lines.get(key);
    if (!found) {
      found = {
        queue,
        kind,
        queued: 0,
        processing: 0,
        dead: 0,
        cancelled: 0,
        oldestDueLagMs: null,
        handled: false,
        paused: isPaused.has(key),
      };
      lines.set(key, found);
    }
    return found;
  };
  for (const r of rows) {
    const l = line(r.queue, r.kind);
    l[r.status] += r.count;
    if (r.oldestDueLagMs !== null)
      l.oldestDueLagMs = Math.max(l.oldestDueLagMs ?? 0, r.oldestDueLagMs);
    l.handled ||= r.handled;
  }
  for (const p of paused) line(p.queue, p.kind);
  return [...lines.values()].sort(
    (a, b) => a.queue.localeCompare(b.queue) || a.kind.localeCompare(b.kind),
  );
}
