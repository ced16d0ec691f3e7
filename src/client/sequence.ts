/**
 * Which inbox events the client has applied, so each is applied once.
 *
 * The rule is `seq > lastSeq`, with one exception: after a resume, the server replays the
 * events in (after, head], `head` being the `ready` event's seq, and a live event past `head`
 * may come before the replay has finished. The replayed ones are then below `lastSeq` but new,
 * so inside that window each seq is taken once by name instead.
 */
export class Sequence {
  /** The highest seq applied, or undefined before the first `ready`. */
  lastSeq: number | undefined;
  epoch: string | undefined;
  private replay: { after: number; head: number; seen: Set<number> } | undefined;
  /** The highest seq seen on this connection (its `ready`, then its events). */
  private connectionMax = 0;

  /**
   * A `ready` event: what to send to resume, if anything. On a first connection there is
   * nothing to resume and `seq` becomes the position.
   */
  ready(seq: number, epoch: string): { after: number; epoch: string } | undefined {
    this.replay = undefined;
    this.connectionMax = seq;
    if (this.lastSeq === undefined || this.epoch === undefined) {
      this.lastSeq = seq;
      this.epoch = epoch;
      return undefined;
    }
    const resume = { after: this.lastSeq, epoch: this.epoch };
    if (epoch !== this.epoch || seq < this.lastSeq) {
      // Another sequence, or one behind us: the server will answer `reset`. Meanwhile the
      // live events it sends are numbered from its head, so that is the position now (the
      // epoch changes with the reset, so a connection lost before it still asks again).
      this.lastSeq = seq;
    } else if (seq > this.lastSeq) {
      this.replay = { after: this.lastSeq, head: seq, seen: new Set() };
    }
    return resume;
  }

  /** True when the event at `seq` is new: apply it. It is then counted as applied. */
  take(seq: number): boolean {
    const r = this.replay;
    this.connectionMax = Math.max(this.connectionMax, seq);
    if (r && seq > r.after && seq <= r.head) {
      if (r.seen.has(seq)) return false;
      r.seen.add(seq);
      if (r.seen.size === r.head - r.after) this.replay = undefined;
      this.lastSeq = Math.max(this.lastSeq ?? seq, seq);
      return true;
    }
    if (this.lastSeq !== undefined && seq <= this.lastSeq) return false;
    this.lastSeq = seq;
    return true;
  }

  /**
   * A `reset`: history after our position is gone. The position becomes the highest seq this
   * connection has seen (its `ready`, or a live event since): the REST refetch the reset asks
   * for sees at least that much, and the server goes on live from there.
   */
  reset(epoch: string): void {
    this.replay = undefined;
    this.epoch = epoch;
    this.lastSeq = this.connectionMax;
  }
}
