-- 0015: event-relative reminders (scheduler/reminders.ts). The app keys a reminder by its own
-- entity (PUT /v1/reminders/{key}) with a due time and offsets; each recipient × offset is a
-- row here with its own job (job key reminder:<key>:<recipient>:<offset>). The row is what the
-- job checks: it sends only while its row is scheduled for the job's own due time and run time,
-- and marks the row sent in the transaction that writes the notification, so it sends once.
CREATE TABLE {{schema}}.reminders (
  -- No ':' in keys: the job and idempotency keys split on it (see reminders.ts).
  key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 128 AND position(':' in key) = 0),
  type text NOT NULL,
  due_at timestamptz NOT NULL,
  -- The recipients and offsets of the latest PUT, in the order given.
  recipients text[] NOT NULL,
  offsets text[] NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- An offset already past when set: skipped (the default) or sent at once.
  late text NOT NULL DEFAULT 'skip' CHECK (late IN ('skip', 'send')),
  -- Set by DELETE; a later PUT clears it.
  cancelled_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{schema}}.reminder_offsets (
  reminder_key text NOT NULL REFERENCES {{schema}}.reminders (key) ON DELETE CASCADE,
  -- Erasing a recipient removes their reminder rows (their queued jobs then find no row).
  recipient_id text NOT NULL REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  offset_label text NOT NULL,
  -- scheduled: its job will send it at run_at; sent: see notification_id; skipped: see reason
  -- (past, or a refusal when it ran: unknown_type...); cancelled: removed by a PUT or DELETE.
  status text NOT NULL CHECK (status IN ('scheduled', 'sent', 'skipped', 'cancelled')),
  reason text,
  -- The due time this row is planned (or was sent) for, and its run time (due_at - offset,
  -- or the time of the PUT for an offset sent late).
  due_at timestamptz NOT NULL,
  run_at timestamptz NOT NULL,
  notification_id uuid REFERENCES {{schema}}.notifications (id) ON DELETE SET NULL,
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (reminder_key, recipient_id, offset_label)
);
-- For the cascade when a recipient is erased.
CREATE INDEX reminder_offsets_recipient_idx ON {{schema}}.reminder_offsets (recipient_id);
