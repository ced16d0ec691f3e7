/**
 * The seam of the pipeline benchmark (bench/pipeline.ts): a notification system from trigger to
 * `sent`, Herald or the hand-rolled peer, and the content both send. A worker is started in
 * two steps (`prepareWorker`, then `start`), so a forked worker process can connect and load
 * before the clock starts.
 */

export type BenchChannel = 'email' | 'inapp';

/** Worker settings of one run; the same numbers drive Herald and the peer. */
export interface WorkerSettings {
  concurrency: number;
  /** Herald: jobs claimed ahead of free slots; the peer: graphile-worker's local queue size. */
  prefetch: number;
  /** Herald only: completions gathered for this long into one statement. */
  completionDelayMs: number;
  /** Pooled SMTP connections per worker process. */
  smtpPoolSize: number;
}

/** What a worker process needs to know to join a run (passed to the forked child as JSON). */
export interface WorkerSpec {
  system: SystemName;
  schema: string;
  sinkUrl: string;
  settings: WorkerSettings;
  /** The email the peer's worker renders; default `TEMPLATES.email` (Herald's is its type's). */
  email?: EmailTemplates;
}

export interface EmailTemplates {
  subject: string;
  html: string;
  text: string;
}

/** The SMTP sink as a system sees it: where to send, and how many messages it has counted. */
export interface SinkView {
  url: string;
  count(): number;
}

export type SystemName = 'herald' | 'hand-rolled';

export interface PreparedWorker {
  /** Starts taking jobs. */
  start(): Promise<void>;
  /** Stops (running jobs finish) and closes its connections. */
  stop(): Promise<void>;
}

export interface PipelineSystem {
  readonly name: SystemName;
  /** The schema a worker process joins. */
  readonly schema: string;
  /**
   * A fresh schema with `recipients` recipients (ids from `recipientIds`) and the type; email
   * goes to `sink` (none: the run sends no email).
   */
  setup(recipients: number, sink: SinkView | null): Promise<void>;
  /** One trigger: these recipients, these channels. This is what the benchmark times. */
  trigger(ids: string[], channels: BenchChannel[]): Promise<void>;
  /** Deliveries of the channel that are sent and recorded, and those that failed. */
  progress(channel: BenchChannel): Promise<{ done: number; failed: number }>;
  teardown(): Promise<void>;
}

export const recipientId = (i: number) => `user-${String(i).padStart(6, '0')}`;
export const recipientIds = (n: number) => Array.from({ length: n }, (_, i) => recipientId(i));
export const recipientEmail = (i: number) => `user-${String(i).padStart(6, '0')}@example.test`;

/** The type both systems send (Handlebars; `recipient` is added by the system). */
export const TYPE_NAME = 'bench-code';
export const TEMPLATES = {
  email: {
    subject: 'Your {{product}} sign-in code',
    html:
      '<p>Hello {{recipient.id}},</p><p>your {{product}} sign-in code is <b>{{code}}</b>.</p>' +
      '<p>It expires in 10 minutes.</p>',
    text: 'Hello {{recipient.id}},\n\nyour {{product}} sign-in code is {{code}}.\nIt expires in 10 minutes.',
  },
  inapp: {
    title: 'Your {{product}} sign-in code',
    body: 'Code {{code}}, valid for 10 minutes.',
  },
} as const;
export const TRIGGER_DATA = { product: 'Herald', code: '482913' };
export const EMAIL_FROM = 'Bench <bench@example.test>';
