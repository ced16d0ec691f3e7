/**
 * `<herald-inbox>`: a bell with the unread count and a panel with the recipient's inbox, live.
 *
 * ```html
 * <script type="module" src="https://herald.example.com/client/herald-inbox.js"></script>
 * <herald-inbox url="https://herald.example.com"></herald-inbox>
 * <script type="module">
 *   document.querySelector('herald-inbox').getToken = () =>
 *     fetch('/token').then((r) => r.text());
 * </script>
 * ```
 *
 * Attributes: `url` (Herald's base URL), `token` (a fixed recipient JWT; prefer the `getToken`
 * property), `page-size` (items per page, default 20), `no-navigate` (a click marks the item
 * read but does not follow its `actionUrl`). Events, on the element: `herald-select`
 * (cancelable, `detail.item`: an item was chosen; cancel it to route the page yourself) and
 * `herald-error` (`detail.error`). Theming: docs/realtime-client.md.
 */
import { connect, type HeraldClient, type InboxItem } from './herald.js';
import { Feed } from './feed.js';
import { INBOX_CSS } from './inbox-style.js';
import { itemElement, type Strings, DEFAULT_STRINGS } from './inbox-item.js';

/** How long a click waits for the read to be recorded before it follows the item's link, ms. */
const FOLLOW_WAIT_MS = 1_000;

const BELL_SVG =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.73 21a2 2 0 0 1-3.46 0"/></svg>';

export class HeraldInboxElement extends HTMLElement {
  static observedAttributes = ['url', 'token', 'page-size'];

  /** The texts shown, to translate: set before the element connects. */
  strings: Strings = { ...DEFAULT_STRINGS };
  private tokenGetter: (() => string | Promise<string>) | undefined;
  private heraldClient: HeraldClient | undefined;
  private readonly feed = new Feed();
  private readonly root: ShadowRoot;
  private readonly els: {
    bell: HTMLButtonElement;
    badge: HTMLElement;
    live: HTMLElement;
    panel: HTMLElement;
    all: HTMLButtonElement;
    scroll: HTMLElement;
    list: HTMLUListElement;
    empty: HTMLElement;
    note: HTMLElement;
    sentinel: HTMLElement;
  };
  private loading = false;
  private unread = 0;
  private restartQueued = false;
  private observer: IntersectionObserver | undefined;
  private readonly onOutside = (e: Event) => {
    if (!e.composedPath().includes(this)) this.toggle(false);
  };
  /** Escape closes the panel wherever the focus is; focus inside goes back to the bell. */
  private readonly onEscape = (e: KeyboardEvent) => {
    if (e.key !== 'Escape') return;
    const inside = e.composedPath().includes(this);
    e.preventDefault();
    this.toggle(false);
    if (inside) this.els.bell.focus();
  };

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.innerHTML = `<style>${INBOX_CSS}</style>
<button class="bell" part="bell" type="button" aria-haspopup="true" aria-expanded="false" aria-controls="panel">${BELL_SVG}<span class="badge" part="badge" aria-hidden="true" hidden></span></button>
<span class="sr" role="status" aria-live="polite"></span>
<section class="panel" id="panel" part="panel" hidden>
  <header><h2 id="heading"></h2><button class="all" part="mark-all" type="button"></button></header>
  <p class="note" part="note" hidden></p>
  <div class="scroll">
    <ul class="list" part="list" aria-labelledby="heading"></ul>
    <p class="empty" part="empty" hidden></p>
    <div class="sentinel"></div>
  </div>
</section>`;
    const $ = <T extends HTMLElement>(sel: string) => this.root.querySelector(sel) as T;
    this.els = {
      bell: $('.bell'),
      badge: $('.badge'),
      live: $('.sr'),
      panel: $('.panel'),
      all: $('.all'),
      scroll: $('.scroll'),
      list: $('.list'),
      empty: $('.empty'),
      note: $('.note'),
      sentinel: $('.sentinel'),
    };
    this.els.bell.addEventListener('click', () => this.toggle());
    this.els.all.addEventListener('click', () => void this.readAll());
    this.root.addEventListener('keydown', (e) => this.onKey(e as KeyboardEvent));
  }

  /** A function returning a fresh recipient JWT (from your app's server). */
  get getToken(): (() => string | Promise<string>) | undefined {
    return this.tokenGetter;
  }
  set getToken(fn: (() => string | Promise<string>) | undefined) {
    this.tokenGetter = fn;
    this.restart();
  }

  get url(): string {
    return this.getAttribute('url') ?? '';
  }
  set url(value: string) {
    this.setAttribute('url', value);
  }

  get token(): string {
    return this.getAttribute('token') ?? '';
  }
  set token(value: string) {
    this.setAttribute('token', value);
  }

  /** The client under the element (events, list, reads), once it has connected. */
  get client(): HeraldClient | undefined {
    return this.heraldClient;
  }

  /** Whether the panel is open. */
  get open(): boolean {
    return !this.els.panel.hidden;
  }

  connectedCallback(): void {
    // A property set before the element was defined shadows the setter: take it over.
    if (Object.prototype.hasOwnProperty.call(this, 'getToken')) {
      const fn = (this as { getToken?: () => string | Promise<string> }).getToken;
      delete (this as { getToken?: unknown }).getToken;
      this.getToken = fn;
    }
    this.els.bell.setAttribute('aria-label', this.strings.title);
    this.els.panel.setAttribute('aria-label', this.strings.title);
    this.root.getElementById('heading')!.textContent = this.strings.title;
    this.els.all.textContent = this.strings.markAllRead;
    this.els.empty.textContent = this.strings.empty;
    this.restart();
  }

  disconnectedCallback(): void {
    this.stop();
    this.toggle(false);
  }

  attributeChangedCallback(name: string): void {
    // A new page size reloads the list; a new Herald or token means a new connection.
    if (name !== 'page-size') this.restart();
    else if (this.feed.loaded) void this.loadMore(true);
  }

  /** Opens or closes the panel (`force` true opens, false closes). */
  toggle(force = !this.open): void {
    if (force === this.open) return;
    this.els.panel.hidden = !force;
    this.els.bell.setAttribute('aria-expanded', String(force));
    if (force) {
      document.addEventListener('pointerdown', this.onOutside, true);
      document.addEventListener('keydown', this.onEscape);
      this.watchScroll();
      if (!this.feed.loaded) void this.loadMore(true);
      this.render();
    } else {
      document.removeEventListener('pointerdown', this.onOutside, true);
      document.removeEventListener('keydown', this.onEscape);
      this.observer?.disconnect();
    }
  }

  // ---- the connection ----

  /** (Re)connects with the current settings, once per task however many of them changed. */
  private restart(): void {
    if (this.restartQueued) return;
    this.restartQueued = true;
    queueMicrotask(() => {
      this.restartQueued = false;
      this.stop();
      if (this.isConnected) this.start();
    });
  }

  private start(): void {
    const url = this.url;
    const token = this.token || undefined;
    const getToken = this.tokenGetter;
    if (!url || (!token && !getToken)) return; // not configured yet
    const client = connect({ url, ...(getToken ? { getToken } : { token }) });
    this.heraldClient = client;
    client.on('unread', (n) => this.setUnread(n));
    client.on('notification', ({ item }) => {
      this.feed.put(item);
      this.render();
    });
    client.on('updated', ({ id, read, deleted }) => {
      if (deleted ? this.feed.remove(id) : this.feed.setRead(id, read)) this.render();
    });
    client.on('reset', () => {
      // Events were lost: the list is refetched from the top.
      if (this.feed.loaded) void this.loadMore(true);
    });
    client.on('status', ({ status }) => this.showStatus(status));
    client.on('error', (error) =>
      this.dispatchEvent(new CustomEvent('herald-error', { detail: { error } })),
    );
    if (this.open) void this.loadMore(true);
  }

  private stop(): void {
    this.heraldClient?.close();
    this.heraldClient = undefined;
    this.feed.items = [];
    this.feed.loaded = false;
    this.feed.nextCursor = null;
  }

  /** The next page (`first`: the first page again, after a reset or a new connection). */
  private async loadMore(first = false): Promise<void> {
    const client = this.heraldClient;
    if (!client || (this.loading && !first) || (!first && !this.feed.nextCursor)) return;
    this.loading = true;
    try {
      const size = Number(this.getAttribute('page-size')) || 20;
      const page = await client.list({ limit: size, cursor: first ? null : this.feed.nextCursor });
      if (client !== this.heraldClient) return;
      this.feed.page(page.items, page.nextCursor, first);
      this.render();
    } catch (error) {
      this.dispatchEvent(new CustomEvent('herald-error', { detail: { error } }));
    } finally {
      this.loading = false;
    }
    // A short first page leaves the sentinel in view: the observer fires only on changes.
    if (this.open && this.sentinelInView()) void this.loadMore();
  }

  // ---- rendering ----

  private setUnread(n: number): void {
    this.unread = n;
    const { badge, bell, live, all } = this.els;
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? '99+' : String(n);
    const label = this.strings.unread(n);
    bell.setAttribute('aria-label', n > 0 ? `${this.strings.title}, ${label}` : this.strings.title);
    live.textContent = label;
    all.disabled = n === 0;
  }

  private render(): void {
    if (!this.open) return;
    const { list, empty } = this.els;
    const focused = (this.root.activeElement as HTMLElement | null)?.dataset.id;
    list.replaceChildren(
      ...this.feed.items.map((item) => {
        const li = document.createElement('li');
        li.append(
          itemElement(item, this.strings, this.navigates(), (e) => void this.choose(item, e)),
        );
        return li;
      }),
    );
    if (focused) list.querySelector<HTMLElement>(`[data-id="${CSS.escape(focused)}"]`)?.focus();
    empty.hidden = !this.feed.loaded || this.feed.items.length > 0;
    this.els.all.disabled = this.unread === 0;
  }

  private showStatus(status: string): void {
    const note = this.els.note;
    note.hidden = status === 'live' || status === 'connecting' || status === 'paused';
    note.textContent = status === 'stopped' ? this.strings.signedOut : this.strings.reconnecting;
  }

  private navigates(): boolean {
    return !this.hasAttribute('no-navigate');
  }

  // ---- actions ----

  /** An item clicked or activated with Enter: marked read, then its link followed. */
  private async choose(item: InboxItem, e: MouseEvent): Promise<void> {
    const link = (e.currentTarget as HTMLElement).getAttribute('href');
    // A new tab (ctrl/meta/shift or middle click): the browser opens it; this page stays.
    const newTab = e.ctrlKey || e.metaKey || e.shiftKey || e.button === 1;
    if (link && !newTab) e.preventDefault();
    const selected = this.dispatchEvent(
      new CustomEvent('herald-select', { detail: { item }, cancelable: true }),
    );
    const read = item.read ? Promise.resolve() : this.markRead(item);
    if (!link || newTab || !selected) return;
    await Promise.race([read, new Promise((r) => setTimeout(r, FOLLOW_WAIT_MS))]);
    location.assign(link);
  }

  private async markRead(item: InboxItem): Promise<void> {
    const client = this.heraldClient;
    if (!client) return;
    this.feed.setRead(item.id, true);
    this.render();
    try {
      await client.markRead(item.id);
    } catch (error) {
      this.feed.setRead(item.id, false);
      this.render();
      this.dispatchEvent(new CustomEvent('herald-error', { detail: { error } }));
    }
  }

  private async readAll(): Promise<void> {
    const client = this.heraldClient;
    if (!client) return;
    this.feed.readAll();
    this.render();
    try {
      await client.markAllRead();
    } catch (error) {
      this.dispatchEvent(new CustomEvent('herald-error', { detail: { error } }));
    }
  }

  // ---- keyboard and scrolling ----

  private onKey(e: KeyboardEvent): void {
    const items = [...this.els.list.querySelectorAll<HTMLElement>('.item')];
    const at = items.indexOf(this.root.activeElement as HTMLElement);
    const onBell = this.root.activeElement === this.els.bell;
    let next: number | undefined;
    if (e.key === 'ArrowDown') next = onBell ? 0 : at + 1;
    else if (e.key === 'ArrowUp' && at >= 0) next = at - 1;
    else if (e.key === 'Home' && at >= 0) next = 0;
    else if (e.key === 'End' && at >= 0) next = items.length - 1;
    if (next === undefined || !this.open) return;
    e.preventDefault();
    if (next < 0) return this.els.bell.focus();
    if (next >= items.length) return void this.loadMore();
    items[next]?.focus();
  }

  private watchScroll(): void {
    if (typeof IntersectionObserver === 'undefined') return;
    this.observer ??= new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void this.loadMore();
      },
      { root: this.els.scroll, rootMargin: '0px 0px 120px 0px' },
    );
    this.observer.observe(this.els.sentinel);
  }

  private sentinelInView(): boolean {
    const box = this.els.scroll.getBoundingClientRect();
    return this.els.sentinel.getBoundingClientRect().top <= box.bottom + 120;
  }
}

if (!customElements.get('herald-inbox')) customElements.define('herald-inbox', HeraldInboxElement);

declare global {
  interface HTMLElementTagNameMap {
    'herald-inbox': HeraldInboxElement;
  }
}
