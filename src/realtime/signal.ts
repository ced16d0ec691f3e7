/**
 * The wake-up between Herald processes: "these recipients' inboxes changed, read the tables".
 *
 * The NOTIFY carries recipient ids only, never content, batched: every id told within one
 * turn of the event loop goes out in one NOTIFY, whose payload stays under PostgreSQL's 8000
 * bytes whatever the burst (past the budget it says "everyone", and each listener looks at all
 * of its connected recipients at once). A lost NOTIFY costs latency, not events: the hub's poll
 * finds what it missed.
 *
 * This process's own ids wake it directly, without the round trip through the database; its
 * own NOTIFYs are recognised by a per-process tag and ignored. On the embedded database every
 * role runs in one process, so there is nothing to send.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Logger } from '../obs/log.js';

/** What a wake-up names: some recipients, or all of them (a burst past the payload budget). */
export type Wake = { recipients: string[] } | { all: true };

/** Under PostgreSQL's 8000-byte NOTIFY payload limit, with room for the tag and brackets. */
const PAYLOAD_BUDGET = 7_600;

export interface SignalOptions {
  db: Db;
  /** The NOTIFY channel (one per schema). */
  channel: string;
  log: Logger;
  onWake(wake: Wake): void;
  /** The LISTEN connection came back: notifications may have been missed. */
  onReconnect(): void;
}

export interface Signal {
  /** Recipients whose inbox changed (committed). Wakes this process now, others soon. */
  changed(recipientIds: string[]): void;
  /** Starts listening for the other processes' wake-ups. */
  listen(): Promise<void>;
  close(): Promise<void>;
}

export function makeSignal(options: SignalOptions): Signal {
  const { db, channel, log } = options;
  const tag = randomBytes(6).toString('base64url');
  const remote = db.kind === 'pg';
  let pending = new Set<string>();
  let scheduled = false;
  let unlisten: (() => Promise<void>) | undefined;
  let sending: Promise<void> = Promise.resolve();

  function flush(): void {
    scheduled = false;
    const ids = [...pending];
    pending = new Set();
    let payload = JSON.stringify({ p: tag, r: ids });
    if (Buffer.byteLength(payload) > PAYLOAD_BUDGET) payload = JSON.stringify({ p: tag, all: 1 });
    sending = db
      .query('SELECT pg_notify($1, $2)', [channel, payload])
      .then(() => undefined)
      .catch((err: unknown) => {
        // The other processes' polls find the change; this process was woken directly.
        log.warn({ err: (err as Error).message }, 'realtime:notify-failed');
      });
  }

  return {
    changed(recipientIds) {
      if (recipientIds.length === 0) return;
      options.onWake({ recipients: recipientIds });
      if (!remote) return;
      for (const id of recipientIds) pending.add(id);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    async listen() {
      if (!remote || unlisten) return;
      unlisten = await db.listen(channel, {
        onNotify(payload) {
          let message: { p?: unknown; r?: unknown; all?: unknown };
          try {
            message = JSON.parse(payload) as typeof message;
          } catch {
            return options.onWake({ all: true }); // not ours to read: look at everything
          }
          if (message.p === tag) return;
          if (Array.isArray(message.r))
            options.onWake({ recipients: message.r.filter((r) => typeof r === 'string') });
          else options.onWake({ all: true });
        },
        onReconnect: () => options.onReconnect(),
      });
    },
    async close() {
      await sending;
      await unlisten?.();
      unlisten = undefined;
    },
  };
}
