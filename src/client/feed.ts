/**
 * The items `<herald-inbox>` shows, kept in the server's order (newest first: `createdAt`, then
 * `id`, both descending) whatever order they arrive in: REST pages, live events, replays after
 * a reconnect. Each item is held once. No DOM here: the element renders what this holds.
 */
import type { InboxItem } from './protocol.js';

const newerFirst = (a: InboxItem, b: InboxItem): number =>
  a.createdAt === b.createdAt
    ? a.id < b.id
      ? 1
      : a.id > b.id
        ? -1
        : 0
    : a.createdAt < b.createdAt
      ? 1
      : -1;

export class Feed {
  items: InboxItem[] = [];
  /** The cursor of the next (older) page; null when the last page is in. */
  nextCursor: string | null = null;
  /** True once the first page is in. */
  loaded = false;

  /** A page from `list()`: `first` replaces what was held (a reload after a reset). */
  page(items: InboxItem[], nextCursor: string | null, first: boolean): void {
    if (first) {
      // Live items newer than the page stay: they came while it was loading.
      const newest = items[0];
      this.items = newest ? this.items.filter((i) => newerFirst(i, newest) < 0) : this.items;
    }
    for (const item of items) this.put(item);
    this.nextCursor = nextCursor;
    this.loaded = true;
  }

  /** A new item (live): added in its place, or replacing the copy already held. */
  put(item: InboxItem): void {
    const at = this.items.findIndex((i) => i.id === item.id);
    if (at >= 0) this.items.splice(at, 1);
    let i = 0;
    while (i < this.items.length && newerFirst(this.items[i] as InboxItem, item) < 0) i++;
    this.items.splice(i, 0, item);
  }

  /** An item read or unread; false when it is not held. */
  setRead(id: string, read: boolean, at = new Date().toISOString()): boolean {
    const item = this.items.find((i) => i.id === id);
    if (!item) return false;
    item.read = read;
    item.readAt = read ? (item.readAt ?? at) : null;
    return true;
  }

  remove(id: string): boolean {
    const before = this.items.length;
    this.items = this.items.filter((i) => i.id !== id);
    return this.items.length !== before;
  }

  readAll(at = new Date().toISOString()): void {
    for (const item of this.items) if (!item.read) this.setRead(item.id, true, at);
  }
}
