/**
 * Gathers calls made in the same event-loop turn into one batch: a worker starts the handlers
 * of a claimed batch of jobs together, and their reads and writes go to the database as one
 * statement each (`= ANY($1)`, `unnest`) instead of one round trip per job.
 */
export function makeBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  options: {
    maxSize?: number;
    /**
     * Wait this long for more items before running (default 0: the same event-loop turn).
     * Worth it for writes whose items trickle in (one per SMTP reply).
     */
    delayMs?: number;
  } = {},
): (item: I) => Promise<O> {
  const maxSize = options.maxSize ?? 1_000;
  const delayMs = options.delayMs ?? 0;
  let pending: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];

  const flush = () => {
    const batch = pending;
    if (batch.length === 0) return; // already flushed when it reached maxSize
    pending = [];
    run(batch.map((p) => p.item)).then(
      (results) => batch.forEach((p, i) => p.resolve(results[i] as O)),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      if (pending.length === 0) {
        if (delayMs > 0) setTimeout(flush, delayMs);
        else setImmediate(flush);
      }
      pending.push({ item, resolve, reject });
      if (pending.length >= maxSize) flush();
    });
}
