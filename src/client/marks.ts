/**
 * Reads and unreads sent over the socket, until the server's answer is seen: the `updated`
 * event for that item (for `read_all`, one that leaves nothing unread), or an `error` event
 * naming it. No answer in time, or the socket closing first, and the same change is made over
 * REST, which answers for sure; both are idempotent, so doing it twice changes nothing.
 */
import { HeraldError } from './rest.js';
import type { ErrorEvent, UpdatedEvent } from './protocol.js';

interface Pending {
  /** The item, or undefined for read_all. */
  id: string | undefined;
  answers: (e: UpdatedEvent) => boolean;
  viaRest: () => Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Marks {
  private pending = new Set<Pending>();

  constructor(private readonly timeoutMs: number) {}

  /** Waits for the answer to a message just sent. */
  expect(
    id: string | undefined,
    answers: (e: UpdatedEvent) => boolean,
    viaRest: () => Promise<void>,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        id,
        answers,
        viaRest,
        resolve,
        reject,
        timer: setTimeout(() => this.fallBack(p), this.timeoutMs),
      };
      this.pending.add(p);
    });
  }

  updated(e: UpdatedEvent): void {
    for (const p of this.pending) if (p.answers(e)) this.settle(p).resolve();
  }

  error(e: ErrorEvent): void {
    for (const p of this.pending)
      if (p.id === e.id) this.settle(p).reject(new HeraldError(e.code, e.message));
  }

  /** The socket closed: what is still waiting goes over REST. */
  fallBackAll(): void {
    for (const p of this.pending) this.fallBack(p);
  }

  /** The client closed: nothing more will be answered. */
  rejectAll(err: Error): void {
    for (const p of this.pending) this.settle(p).reject(err);
  }

  private fallBack(p: Pending): void {
    if (!this.pending.has(p)) return;
    this.settle(p);
    p.viaRest().then(p.resolve, p.reject);
  }

  private settle(p: Pending): Pending {
    clearTimeout(p.timer);
    this.pending.delete(p);
    return p;
  }
}
