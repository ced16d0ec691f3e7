/**
 * Herald's vocabulary (see docs/architecture.md for the whole picture):
 *
 * - job: one unit of queued work (a delivery attempt, a scheduled run, a digest flush, a
 *   reminder), a row of `<schema>.jobs`; run at least once, its completion fenced by attempt.
 * - kind: what a job does; a worker runs the kinds it has handlers for and leaves the rest.
 * - queue: a named lane of jobs; a worker pool serves one queue.
 * - lease: a claimed job belongs to one worker until `locked_until`; heartbeats extend it,
 *   and an expired lease is reclaimed so a crashed worker loses nothing.
 * - attempt: one run of a job; `attempts` counts claims, and a result is recorded only by the
 *   attempt that still holds the job.
 * - dead: a job that failed `maxAttempts` times or permanently; kept with every error, until
 *   replayed.
 * - channel: how a notification reaches someone (email, sms, …); each has providers
 *   (channels/) and templates (notify/).
 * - delivery event: what a provider reports about a message after it was sent (a status
 *   callback), parsed in channels/ and applied to deliveries in notify/.
 */

export type JobStatus = 'queued' | 'processing' | 'dead' | 'cancelled';

/** What to enqueue. Only `kind` is required. */
export interface JobSpec {
  /** What the job does; a worker with a handler for this kind runs it. 1–200 characters. */
  kind: string;
  /** JSON-serialisable data for the handler; at most `maxPayloadBytes` (256 KiB) as JSON. */
  payload?: unknown;
  /** The queue (lane) of the job. Default `'default'`. */
  queue?: string;
  /** Run at this instant (or at once if it is past). */
  runAt?: Date;
  /** Run this many milliseconds from now (database clock). Not together with `runAt`. */
  delayMs?: number;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** Attempts before the job is dead. Default 25. */
  maxAttempts?: number;
  /**
   * At most one live (queued or processing) job has a given key. Enqueueing a key that is
   * live returns the existing job unchanged, or with `replace: true` updates a job that is
   * still queued with this spec.
   */
  key?: string;
  replace?: boolean;
}

/** A job as stored. Ids are decimal strings (they are 64-bit). */
export interface Job {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  runAt: Date;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  key: string | null;
  lastError: string | null;
  createdAt: Date;
}

/** A failed attempt, as kept on the job. */
export interface JobError {
  attempt: number;
  at: string;
  error: string;
  worker: string | null;
}

export interface DeadJob extends Job {
  errors: JobError[];
  updatedAt: Date;
}

/** The result of an enqueue: the job, and whether this call created it. */
export interface Enqueued {
  job: Job;
  /** false when a live job with the same key already existed (and was returned or replaced). */
  created: boolean;
}

export const CHANNELS = ['email', 'sms', 'whatsapp', 'push', 'inapp', 'webhook', 'slack'] as const;
export type Channel = (typeof CHANNELS)[number];

/** What provider status callbacks report after `sent` (webhooks). */
export type DeliveredStatus = 'delivered' | 'bounced' | 'complained' | 'opened' | 'clicked';

/**
 * Reports recorded in the history without changing the status: the provider will retry, or the
 * recipient's server refused for now (`soft_bounced`: a transient bounce, the address is fine).
 */
export type NoteStatus = 'soft_bounced' | 'delayed';

export const SUPPRESSION_CHANNELS = ['email', 'sms', 'whatsapp'] as const;
export type SuppressionChannel = (typeof SUPPRESSION_CHANNELS)[number];
export const SUPPRESSION_REASONS = ['bounce', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

/** One provider report about a sent message (notify/delivery-events.ts applies it). */
export interface DeliveryEvent {
  /** Herald's delivery id as the provider echoes it; null when only the address matters. */
  deliveryId: string | null;
  /** Else the provider's message id (Twilio's MessageSid), as the delivery recorded it. */
  providerMessageId?: string;
  status: DeliveredStatus | 'failed' | NoteStatus;
  detail: string;
  at: Date;
  /** Put this address on the suppression list. */
  suppress?: { channel: SuppressionChannel; address: string; reason: SuppressionReason };
}
