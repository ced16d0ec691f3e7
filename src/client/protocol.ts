/**
 * The words of the real-time inbox protocol (docs/realtime.md, API.md "Real-time inbox"), as the
 * browser client sees them. This folder imports nothing outside itself (the lint insists), so the
 * inbox item's shape is written out here rather than imported from src/notify/inbox.ts;
 * test/realtime-client.test.ts checks that the two stay the same type.
 */

/** An item of the recipient's inbox, as `GET /v1/me/notifications` lists it. */
export interface InboxItem {
  id: string;
  type: string;
  title: string | null;
  body: string | null;
  actionUrl: string | null;
  data: Record<string, unknown>;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

/** One page of the inbox, newest first. */
export interface InboxPage {
  items: InboxItem[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
}

/** Sent once the connection is authenticated: `seq` is the recipient's head at that moment. */
export interface ReadyEvent {
  type: 'ready';
  seq: number;
  epoch: string;
  unreadCount: number;
}

/** A new item in the inbox. */
export interface NotificationEvent {
  type: 'notification';
  seq: number;
  item: InboxItem;
  unreadCount: number;
}

/** An item read, unread or deleted. */
export interface UpdatedEvent {
  type: 'updated';
  seq: number;
  id: string;
  read: boolean;
  deleted: boolean;
  unreadCount: number;
}

/** The asked-for position cannot be resumed: refetch over REST, then follow `epoch`. */
export interface ResetEvent {
  type: 'reset';
  epoch: string;
}

/** A refusal of something the client sent; `id` names the item when it was about one. */
export interface ErrorEvent {
  type: 'error';
  code: string;
  message: string;
  id?: string;
}

export interface PongEvent {
  type: 'pong';
}

export type ServerMessage =
  ReadyEvent | NotificationEvent | UpdatedEvent | ResetEvent | ErrorEvent | PongEvent;

export type ClientMessage =
  | { type: 'auth'; token: string }
  | { type: 'resume'; after: number; epoch: string }
  | { type: 'read'; id: string }
  | { type: 'unread'; id: string }
  | { type: 'read_all' }
  | { type: 'ping' };

/** The subprotocol the server selects; the token rides in a second one, `bearer.<JWT>`. */
export const SUBPROTOCOL = 'herald.v1';

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);

/**
 * A server frame as a message, or undefined when it is not one this client knows (a newer
 * server's event type, or garbage): those are skipped, never thrown on, so an older page keeps
 * working against a newer Herald.
 */
export function parseServerMessage(data: unknown): ServerMessage | undefined {
  if (typeof data !== 'string') return undefined;
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (!isRecord(m)) return undefined;
  switch (m.type) {
    case 'ready':
      return isInt(m.seq) && typeof m.epoch === 'string' && isInt(m.unreadCount)
        ? (m as unknown as ReadyEvent)
        : undefined;
    case 'notification':
      return isInt(m.seq) &&
        isRecord(m.item) &&
        typeof m.item.id === 'string' &&
        isInt(m.unreadCount)
        ? (m as unknown as NotificationEvent)
        : undefined;
    case 'updated':
      return isInt(m.seq) && typeof m.id === 'string' && isInt(m.unreadCount)
        ? ({ ...m, read: m.read === true, deleted: m.deleted === true } as unknown as UpdatedEvent)
        : undefined;
    case 'reset':
      return typeof m.epoch === 'string' ? (m as unknown as ResetEvent) : undefined;
    case 'error':
      return {
        type: 'error',
        code: typeof m.code === 'string' ? m.code : 'error',
        message: typeof m.message === 'string' ? m.message : '',
        ...(typeof m.id === 'string' ? { id: m.id } : {}),
      };
    case 'pong':
      return { type: 'pong' };
    default:
      return undefined;
  }
}
