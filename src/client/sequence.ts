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

  /**
   * A `ready` event: what to send to resume, if anything. On a first connection there is
   * nothing to resume and `seq` becomes the position.
   */
  ready(seq: number, epoch: string): { after: number; epoch: string } | undefined {
    this.replay = undefined;
    if (this.lastSeq === undefined || this.epoch === undefined) {
      this.lastSeq = seq;
      this.epoch = epoch;
      return undefined;
    }
    const resume = { after: this.lastSeq, epoch: this.epoch };
    if (seq > this.lastSeq) this.replay = { after: this.lastSeq, head: seq, seen: new Set() };
    return resume;
  }

  /** True when the event at `seq` is new: apply it. It is then counted as applied. */
  take(seq: number): boolean {
    const r = this.replay;
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
   * A `reset`: history after our position is gone. The position becomes this connection's
   * head (`readySeq`): the REST refetch the reset asks for sees at least that much, and the
   * server sends what comes after it live.
   */
  reset(epoch: string, readySeq: number): void {
    this.replay = undefined;
    this.epoch = epoch;
    this.lastSeq = readySeq;
  }
}
