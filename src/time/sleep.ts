/**
 * Waits `ms`, or rejects with the signal's reason as soon as `signal` aborts (a job whose lease
 * was lost stops waiting at once). node:timers/promises rejects with a generic AbortError
 * instead, which would hide why the wait ended.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(toReason(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(toReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const toReason = (signal: AbortSignal | undefined): Error =>
  signal?.reason instanceof Error ? signal.reason : new Error('aborted');
