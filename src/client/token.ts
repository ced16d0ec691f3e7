/**
 * The recipient token: a fixed one, or one the app hands out through `getToken` and the client
 * refreshes before its `exp`. The payload is decoded, never verified (Herald verifies it; the
 * page only needs to know when it runs out).
 */
export type GetToken = () => string | Promise<string>;

/** The `exp` claim of a JWT in ms since the epoch, or undefined when it has none or is not a JWT. */
export function tokenExpiry(jwt: string): number | undefined {
  const payload = jwt.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const claims: unknown = JSON.parse(atob(padded));
    const exp = (claims as { exp?: unknown } | null)?.exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long before `exp` a token is refreshed: a minute, or a fifth of a short token's life,
 * so a five-minute token is renewed a minute early and a thirty-second one six seconds early.
 */
export function refreshLead(expiresAt: number, now: number): number {
  return Math.min(60_000, Math.max(1_000, (expiresAt - now) / 5));
}

export class TokenSource {
  private token: string | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    private readonly fixed: string | undefined,
    private readonly getToken: GetToken | undefined,
  ) {
    if (!fixed && !getToken) throw new TypeError('herald: connect() needs `token` or `getToken`');
    this.token = fixed;
  }

  /** True when a new token can be had (a `getToken`), false for a fixed token. */
  get refreshable(): boolean {
    return this.getToken !== undefined;
  }

  /** When the current token expires (ms since the epoch), if known. */
  get expiresAt(): number | undefined {
    return this.token ? tokenExpiry(this.token) : undefined;
  }

  /**
   * A token to use now: the current one, unless it is missing or about to expire and a new one
   * can be had. Concurrent callers share one `getToken` call.
   */
  async current(now = Date.now()): Promise<string> {
    const exp = this.expiresAt;
    const stale = this.token === undefined || (exp !== undefined && exp - now < 1_000);
    if (stale && this.getToken) return this.fresh();
    if (this.token === undefined) throw new TypeError('herald: no token');
    return this.token;
  }

  /** The server refused the current token: the next `current()` asks `getToken` for another. */
  refused(): void {
    if (this.getToken) this.token = undefined;
  }

  /** A new token from `getToken` (the current one was refused or is running out). */
  fresh(): Promise<string> {
    const get = this.getToken;
    if (!get) return Promise.resolve(this.token ?? '');
    this.pending ??= (async () => {
      try {
        const token = await get();
        if (typeof token !== 'string' || token === '')
          throw new TypeError('herald: getToken() gave no token');
        this.token = token;
        return token;
      } finally {
        this.pending = undefined;
      }
    })();
    return this.pending;
  }
}
