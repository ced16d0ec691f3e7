/**
 * The inbox over REST (`/v1/me/notifications...`): the pages of the feed, and the reads and
 * unread count when no socket is open. A refused token is renewed once through `getToken`.
 */
import type { InboxPage } from './protocol.js';
import type { TokenSource } from './token.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** A refusal from Herald: its problem+json `code` (`unauthorized`, `not_found`, ...) and status. */
export class HeraldError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'HeraldError';
  }
}

export interface ListOptions {
  /** From a page's `nextCursor`: the page after it. */
  cursor?: string | null;
  /** Items per page, 1 to 100. Default 20. */
  limit?: number;
  /** Only unread items. */
  unread?: boolean;
}

export class Rest {
  constructor(
    private readonly base: string,
    private readonly tokens: TokenSource,
    private readonly fetch: FetchLike,
  ) {}

  async list(options: ListOptions = {}): Promise<InboxPage> {
    const q = new URLSearchParams();
    if (options.cursor) q.set('cursor', options.cursor);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.unread) q.set('unread', 'true');
    const query = q.toString() ? `?${q.toString()}` : '';
    return (await this.call('GET', `v1/me/notifications${query}`).then((r) =>
      r.json(),
    )) as InboxPage;
  }

  async unreadCount(): Promise<number> {
    const body = (await this.call('GET', 'v1/me/unread-count').then((r) => r.json())) as {
      count: number;
    };
    return body.count;
  }

  async mark(id: string, read: boolean): Promise<void> {
    await this.call(
      'POST',
      `v1/me/notifications/${encodeURIComponent(id)}/${read ? 'read' : 'unread'}`,
    );
  }

  async markAllRead(): Promise<void> {
    await this.call('POST', 'v1/me/notifications/read-all');
  }

  /** One call; a 401 with a renewable token is tried once more with a new one. */
  private async call(method: string, path: string): Promise<Response> {
    let res = await this.once(method, path, await this.tokens.current());
    if (res.status === 401 && this.tokens.refreshable) {
      res = await this.once(method, path, await this.tokens.fresh());
    }
    if (!res.ok) throw await problemOf(res);
    return res;
  }

  private once(method: string, path: string, token: string): Promise<Response> {
    return this.fetch(new URL(path, this.base).toString(), {
      method,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
  }
}

async function problemOf(res: Response): Promise<HeraldError> {
  let body: { code?: unknown; detail?: unknown; title?: unknown } = {};
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // Not problem+json (a proxy's page): the status says enough.
  }
  const code = typeof body.code === 'string' ? body.code : `http_${res.status}`;
  const detail =
    typeof body.detail === 'string'
      ? body.detail
      : typeof body.title === 'string'
        ? body.title
        : `HTTP ${res.status}`;
  return new HeraldError(code, detail, res.status);
}
