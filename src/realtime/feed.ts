/**
 * One client connection's view of its recipient's change sequence, whatever carries it
 * (WebSocket or SSE): it sends each event once, in seq order, from where the client stands.
 *
 * Events come two ways: live from the hub (read once per process and handed to every feed of
 * the recipient) and, for a resume, replayed from the tables page by page. While a feed is
 * starting or replaying it holds the live events; afterwards it sends those past its cursor.
 * Nothing is lost between the two: the feed is attached to the hub before anything is read, so
 * every change after that reaches it live, and the replay reads everything committed before.
 *
 * A client that does not read is not given more than `sendBufferBytes`: past that the feed is
 * closed as too slow (4408 on a WebSocket) and dropped from the hub, so it holds no more memory
 * than the bound; the client resumes from its last seq.
 */
import type { InboxChanges, InboxEvent, StreamHead } from '../notify/inbox-changes.js';

/** An event serialised once for every connection that gets it. */
export interface Frame {
  type: string;
  seq?: number;
  json: string;
}

export const frameOf = (event: InboxEvent | Record<string, unknown>): Frame => ({
  type: String(event.type),
  ...(typeof event.seq === 'number' ? { seq: event.seq } : {}),
  json: JSON.stringify(event),
});

/** What carries frames to one client. */
export interface Transport {
  send(frame: Frame): void;
  /** Bytes queued for the client and not yet handed to the operating system. */
  buffered(): number;
  /** Resolves once what is queued has been written out (or the connection is gone). */
  drained(): Promise<void>;
  /** Closes the connection because the client is too slow (it resumes). */
  closeSlow(): void;
}

/** Replay page size: bounded memory however long the client was away. */
const PAGE = 500;
/** Live events held during a replay; a replay that falls this far behind is too slow. */
const MAX_HELD = 10_000;

export class Feed {
  /** The last seq this client has been sent (or was told of in `ready`). */
  private cursor = 0;
  /** Live frames held while starting or replaying; undefined when sending straight through. */
  private held: Frame[] | undefined = [];
  private closed = false;

  constructor(
    readonly recipientId: string,
    private readonly transport: Transport,
    private readonly sendBufferBytes: number,
    /** Called once when the feed stops (too slow, or `close`): the hub detaches it. */
    private readonly onClosed: (feed: Feed) => void,
  ) {}

  /** A live event from the hub. */
  live(frame: Frame): void {
    if (this.closed) return;
    if (this.held) {
      this.held.push(frame);
      if (this.held.length > MAX_HELD) this.tooSlow();
      return;
    }
    this.deliver(frame);
  }

  /**
   * Sends `ready` for `head` and releases the live events held since the feed was attached;
   * with `resumeNext`, keeps holding them for the `resume` that follows at once.
   */
  start(head: StreamHead, resumeNext = false): void {
    this.cursor = head.seq;
    this.sendNow(
      frameOf({ type: 'ready', seq: head.seq, epoch: head.epoch, unreadCount: head.unreadCount }),
    );
    if (!resumeNext) this.release();
  }

  /**
   * Replays every event after `after` in epoch `epoch`, in order, once, then goes on live; or
   * sends `reset` when that position cannot be resumed (another epoch, or history removed).
   */
  async resume(
    changes: InboxChanges,
    head: StreamHead,
    after: number,
    epoch: string,
  ): Promise<void> {
    if (this.closed) return;
    if (epoch !== head.epoch || after < head.floorSeq || after > head.seq) {
      this.cursor = Math.max(this.cursor, head.seq);
      // The SSE id of a reset is the head, where the client's refetch leaves it.
      this.sendNow({ ...frameOf({ type: 'reset', epoch: head.epoch }), seq: head.seq });
      this.release();
      return;
    }
    this.held ??= [];
    this.cursor = after;
    for (;;) {
      const page = await changes.after(this.recipientId, this.cursor, PAGE);
      for (const event of page) {
        // Sent as fast as the client reads: a long replay never piles up in memory, and a
        // client that reads is never taken for a slow one.
        if (this.transport.buffered() > this.sendBufferBytes / 2) await this.transport.drained();
        if (this.closed) return;
        this.deliver(frameOf(event));
      }
      if (page.length < PAGE) break;
    }
    this.release();
  }

  /** The recipient's sequence started again in `epoch`: refetch, and take it from its start. */
  restart(epoch: string): void {
    if (this.closed) return;
    this.held = undefined;
    this.cursor = 0;
    this.sendNow({ ...frameOf({ type: 'reset', epoch }), seq: 0 });
  }

  /** Stops the feed (the connection closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = undefined;
    this.onClosed(this);
  }

  private release(): void {
    const held = this.held;
    this.held = undefined;
    for (const frame of held ?? []) this.deliver(frame);
  }

  private deliver(frame: Frame): void {
    if (this.closed || frame.seq === undefined || frame.seq <= this.cursor) return;
    this.cursor = frame.seq;
    this.sendNow(frame);
  }

  private sendNow(frame: Frame): void {
    if (this.closed) return;
    this.transport.send(frame);
    if (this.transport.buffered() > this.sendBufferBytes) this.tooSlow();
  }

  private tooSlow(): void {
    if (this.closed) return;
    this.close();
    this.transport.closeSlow();
  }
}
