/**
 * A small typed event emitter: `on(type, fn)` returns the function that removes `fn`. A
 * listener that throws does not stop the others (its error is rethrown outside the client's
 * own flow, where the page's error reporting sees it).
 */
export class Emitter<Events extends object> {
  private listeners = new Map<keyof Events, Set<(value: never) => void>>();

  on<K extends keyof Events>(type: K, fn: (value: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  off<K extends keyof Events>(type: K, fn: (value: Events[K]) => void): void {
    this.listeners.get(type)?.delete(fn);
  }

  emit<K extends keyof Events>(type: K, value: Events[K]): void {
    for (const fn of [...(this.listeners.get(type) ?? [])]) {
      try {
        (fn as (value: Events[K]) => void)(value);
      } catch (err) {
        setTimeout(() => {
          throw err;
        });
      }
    }
  }
}
