/**
 * The shape of the operation table: every HTTP operation Herald serves, as data. The entries
 * are in openapi-resources.ts and openapi-notifications.ts; the OpenAPI document (openapi.ts)
 * and the reference page (docs.ts) are built from them. test/openapi.test.ts compares them
 * with the routes the Hono app registers, so a route without an entry fails the suite.
 */
import type { z } from 'zod';
import type { SchemaName } from './openapi-schemas.js';

/**
 * Who may call: `server` an API key, `admin` an admin API key, `recipient` an app-signed JWT,
 * `public` a signed token in the URL, `none` anyone.
 */
export type Realm = 'server' | 'admin' | 'recipient' | 'public' | 'none';

export interface Param {
  schema: z.ZodType;
  description: string;
  /** Path parameters are always required; others only when this says so. */
  required?: boolean;
  /** A malformed value answers not_found (the id cannot exist), not validation_failed. */
  malformedIsNotFound?: boolean;
}

export interface Reply {
  description: string;
  /** The body's schema; absent with `contentType` means text. */
  schema?: SchemaName;
  /** Default `application/json` (when there is a schema). */
  contentType?: string;
}

export interface Operation {
  /** The OpenAPI operationId: stable, for generated clients. */
  id: string;
  method: 'get' | 'put' | 'post' | 'delete';
  /** OpenAPI form: `/v1/recipients/{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  realm: Realm;
  pathParams?: Record<string, Param>;
  query?: Record<string, Param>;
  headers?: Record<string, Param>;
  body?: { schema: SchemaName; example?: unknown; contentType?: string };
  /** Success answers by status. */
  responses: Record<number, Reply>;
  /**
   * The problem codes this operation answers besides the ones every operation of its realm
   * and shape has (unauthorized, validation_failed of a body, payload_too_large), with when.
   * The status of each comes from problem.ts.
   */
  errors?: Record<string, string>;
  /**
   * Set while the route is not served yet (who adds it); such entries stay out of the
   * document. Remove it in the change that adds the route: the test insists.
   */
  pending?: string;
}

/** Tags in the order the reference shows them, with what each covers. */
export const TAGS: { name: string; description: string }[] = [
  { name: 'Operations', description: 'Liveness, readiness and metrics, for orchestrators.' },
  { name: 'Recipients', description: 'The app’s users, under the app’s own ids.' },
  { name: 'Devices', description: 'A recipient’s push addresses (APNs, FCM, Web Push).' },
  { name: 'Preferences', description: 'Channel switches, opt-outs, quiet hours, schedules.' },
  { name: 'Types', description: 'Notification types: channels, priority, templates.' },
  { name: 'Templates', description: 'Layouts that wrap email html, and partials to include.' },
  { name: 'Notifications', description: 'Triggering notifications and following them.' },
  { name: 'Reminders', description: 'Reminders at offsets before a due time, moved with it.' },
  { name: 'Inbox', description: 'The recipient’s own in-app inbox (recipient token).' },
  {
    name: 'Browser client',
    description: 'The inbox client and the `<herald-inbox>` element, as scripts for pages.',
  },
  { name: 'Unsubscribe', description: 'One-click unsubscribe links in marketing messages.' },
  {
    name: 'Admin',
    description: 'Operators (admin key): deliveries, retries, suppressions, the job queue.',
  },
  { name: 'Webhooks', description: 'Delivery statuses from providers, checked by signature.' },
];
