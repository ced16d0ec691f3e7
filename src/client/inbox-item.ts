/**
 * One inbox item as `<herald-inbox>` shows it: a link when it has an `actionUrl` to follow, a
 * button otherwise, so Tab reaches it and Enter activates it. Text goes in as text, never as
 * HTML: titles and bodies are rendered from the app's data.
 */
import type { InboxItem } from './protocol.js';

/** The element's words, to translate (`element.strings = { ...element.strings, empty: '…' }`). */
export interface Strings {
  title: string;
  markAllRead: string;
  empty: string;
  reconnecting: string;
  signedOut: string;
  unread(count: number): string;
  /** Said before an unread item's title to screen readers. */
  unreadItem: string;
}

export const DEFAULT_STRINGS: Strings = {
  title: 'Notifications',
  markAllRead: 'Mark all read',
  empty: 'No notifications yet',
  reconnecting: 'Offline: reconnecting…',
  signedOut: 'Signed out: reload the page to see new notifications',
  unread: (n) => (n === 1 ? '1 unread notification' : `${n} unread notifications`),
  unreadItem: 'Unread:',
};

/** `url` when it is an http(s) or relative link (Herald allows no other), else undefined. */
export function safeLink(url: string | null, base: string): string | undefined {
  if (!url) return undefined;
  try {
    const { protocol } = new URL(url, base);
    return protocol === 'http:' || protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 7],
  ['week', 4.35],
  ['month', 12],
  ['year', Infinity],
];

/** "2 minutes ago", "yesterday": how long ago `iso` was. */
export function timeAgo(iso: string, now = Date.now()): string {
  let value = (Date.parse(iso) - now) / 1000;
  for (const [unit, size] of STEPS) {
    if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
    value /= size;
  }
  return '';
}

export function itemElement(
  item: InboxItem,
  strings: Strings,
  follow: boolean,
  onActivate: (e: MouseEvent) => void,
): HTMLElement {
  const href = follow ? safeLink(item.actionUrl, location.href) : undefined;
  const el: HTMLElement = document.createElement(href ? 'a' : 'button');
  if (href) (el as HTMLAnchorElement).href = href;
  else (el as HTMLButtonElement).type = 'button';
  el.className = `item ${item.read ? 'read' : 'unread'}`;
  el.setAttribute('part', `item ${item.read ? 'read' : 'unread'}`);
  el.dataset.id = item.id;
  const part = (cls: string, text: string, tag = 'span') => {
    const p = document.createElement(tag);
    p.className = cls;
    p.textContent = text;
    return p;
  };
  const dot = part('dot', '');
  dot.setAttribute('aria-hidden', 'true');
  const title = part('title', item.title ?? item.type);
  if (!item.read) title.prepend(part('sr', `${strings.unreadItem} `));
  el.append(dot, title);
  if (item.body) el.append(part('body', item.body));
  const time = part('time', timeAgo(item.createdAt), 'time');
  time.setAttribute('datetime', item.createdAt);
  el.append(time);
  el.addEventListener('click', onActivate);
  return el;
}
