/**
 * The real-time hub of one process: which recipients have connections here, and their events.
 *
 * A change is committed by whichever process made it (API, worker, scheduler); the signal wakes
 * every process (signal.ts). The hub of a process then reads the new changes of its woken
 * recipients from the tables, in one query for all of them, serialises each event once and
 * hands it to every feed of that recipient (feed.ts). It remembers, per recipient, the last seq
 * it read, so each event is read once per process however many connections want it.
 *
 * Wake-ups can be lost (a NOTIFY sent while the LISTEN connection was down) or arrive for
 * everyone (a burst past the NOTIFY budget); the poll looks at every connected recipient's
 * sequence every `pollIntervalMs` and is what guarantees delivery. The wake-ups only make it
 * fast.
 */
import type { Db } from '../db/db.js';
import type { Logger } from '../obs/log.js';
import type { InboxChanges, StreamHead } from '../notify/inbox-changes.js';
import { Feed, frameOf, type Transport } from './feed.js';
import { makeSignal, type Wake } from './signal.js';

/** Rows read per query of the hub; recipients cut short are read again at once. */
const FETCH_ROWS = 2_000;

interface Entry {
  feeds: Set<Feed>;
  /** The last seq read for this recipient; undefined until the first head is known. */
  seq: number | undefined;
  /** The epoch that seq belongs to. */
  epoch: string;
}

export interface HubOptions {
  db: Db;
  changes: InboxChanges;
  channel: string;
  log: Logger;
  pollIntervalMs: number;
  sendBufferBytes: number;
}

export interface RealtimeStats {
  connections: number;
  recipients: number;
  /** Connections closed as too slow since start. */
  slowClosed: number;
}

export function makeHub(options: HubOptions) {
  const { changes, log } = options;
  const entries = new Map<string, Entry>();
  const dirty = new Set<string>();
  let fetching = false;
  let poll: NodeJS.Timeout | undefined;
  let connections = 0;
  let slowClosed = 0;

  const signal = makeSignal({
    db: options.db,
    channel: options.channel,
    log,
    onWake: wake,
    onReconnect: () => wake({ all: true }),
  });

  function wake(w: Wake): void {
    if ('all' in w) for (const id of entries.keys()) dirty.add(id);
    else for (const id of w.recipients) if (entries.has(id)) dirty.add(id);
    if (dirty.size > 0) void fetch();
  }

  /** Reads and hands out the changes of the dirty recipients until none are left. */
  async function fetch(): Promise<void> {
    if (fetching) return;
    fetching = true;
    try {
      while (dirty.size > 0) {
        const cursors = new Map<string, number>();
        for (const id of dirty) {
          const entry = entries.get(id);
          // Not yet started: its first head is being read, and it looks again after.
          if (entry?.seq !== undefined) cursors.set(id, entry.seq);
          if (entry?.seq !== undefined || !entry) dirty.delete(id);
          if (cursors.size >= FETCH_ROWS) break;
        }
        if (cursors.size === 0) break;
        const rows = await changes.afterMany(cursors, FETCH_ROWS);
        const restarted = new Set<string>();
        for (const { recipientId, epoch, event } of rows) {
          const entry = entries.get(recipientId);
          if (!entry || entry.seq === undefined || restarted.has(recipientId)) continue;
          if (epoch !== entry.epoch) {
            // Read from a cursor of the old sequence: start over from the new one's start.
            restart(entry, epoch);
            restarted.add(recipientId);
            dirty.add(recipientId);
            continue;
          }
          if (event.seq <= entry.seq) continue;
          entry.seq = event.seq;
          const frame = frameOf(event);
          for (const feed of entry.feeds) feed.live(frame);
        }
        // Cut short: the recipients of this batch may have more.
        if (rows.length >= FETCH_ROWS) for (const id of cursors.keys()) dirty.add(id);
      }
    } catch (err) {
      // The poll tries again; the connections keep what they have.
      log.warn({ err: (err as Error).message }, 'realtime:fetch-failed');
    } finally {
      fetching = false;
    }
  }

  /**
   * The recipient's sequence started again (the recipient was erased, and maybe made again):
   * its connections are told to refetch, and get the new sequence from its start.
   */
  function restart(entry: Entry, epoch: string): void {
    if (entry.epoch === epoch) return;
    entry.epoch = epoch;
    entry.seq = 0;
    for (const feed of entry.feeds) feed.restart(epoch);
  }

  async function pollOnce(): Promise<void> {
    const cursors = new Map<string, { seq: number; epoch: string }>();
    for (const [id, entry] of entries)
      if (entry.seq !== undefined) cursors.set(id, { seq: entry.seq, epoch: entry.epoch });
    if (cursors.size === 0) return;
    try {
      const moved = await changes.moved(cursors);
      for (const { recipientId, epoch } of moved) {
        const entry = entries.get(recipientId);
        if (entry && entry.epoch !== epoch) restart(entry, epoch);
      }
      if (moved.length > 0) wake({ recipients: moved.map((m) => m.recipientId) });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'realtime:poll-failed');
    }
  }

  function detach(feed: Feed): void {
    const entry = entries.get(feed.recipientId);
    if (!entry?.feeds.delete(feed)) return;
    connections--;
    if (entry.feeds.size === 0) {
      entries.delete(feed.recipientId);
      dirty.delete(feed.recipientId);
    }
  }

  return {
    /** Tells every process that these recipients' inboxes changed (after the commit). */
    changed: (recipientIds: string[]) => signal.changed(recipientIds),

    /**
     * A new connection of `recipientId`: attached at once (it holds live events from now),
     * started with `feed.start(head)` by the caller once it has sent what it must first.
     */
    async attach(
      recipientId: string,
      transport: Transport,
    ): Promise<{ feed: Feed; head: StreamHead }> {
      const feed = new Feed(recipientId, transport, options.sendBufferBytes, detach);
      let entry = entries.get(recipientId);
      if (!entry) {
        entry = { feeds: new Set(), seq: undefined, epoch: '' };
        entries.set(recipientId, entry);
      }
      entry.feeds.add(feed);
      connections++;
      try {
        const head = await changes.head(recipientId);
        if (entry.seq === undefined && entries.get(recipientId) === entry) {
          entry.seq = head.seq;
          entry.epoch = head.epoch;
          // Woken while its head was read: look now.
          if (dirty.has(recipientId)) void fetch();
        }
        return { feed, head };
      } catch (err) {
        feed.close();
        throw err;
      }
    },

    /** The recipient's sequence as it stands. */
    head: (recipientId: string) => changes.head(recipientId),

    /**
     * Replays the feed's recipient's events after `after` in `epoch`, then goes on live (or
     * sends `reset`); `head` is the sequence as just read, else it is read now.
     */
    async resume(feed: Feed, after: number, epoch: string, head?: StreamHead): Promise<void> {
      await feed.resume(changes, head ?? (await changes.head(feed.recipientId)), after, epoch);
    },

    /** Counted when a transport closes a feed as too slow. */
    countSlow(): void {
      slowClosed++;
    },

    /** Open connections of one recipient in this process. */
    connectionsOf(recipientId: string): number {
      return entries.get(recipientId)?.feeds.size ?? 0;
    },

    stats(): RealtimeStats {
      return { connections, recipients: entries.size, slowClosed };
    },

    /** Listens for the other processes' wake-ups and starts the poll (a serving process). */
    async start(): Promise<void> {
      await signal.listen();
      poll ??= setInterval(() => void pollOnce(), options.pollIntervalMs);
      poll.unref();
    },

    async close(): Promise<void> {
      if (poll) clearInterval(poll);
      poll = undefined;
      await signal.close();
    },
  };
}

export type Hub = ReturnType<typeof makeHub>;
