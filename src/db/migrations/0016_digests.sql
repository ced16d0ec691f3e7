-- 0016: digests (scheduler/digests.ts). A delivery held for a digest stays `queued` with reason
-- `digest` and run_at at the digest's send time, and has a row here instead of a deliver job:
-- the `digest` job of that recipient, type, channel and send time finds its deliveries through
-- this index, locks them, sends one message and marks them all sent, in one transaction. Rows
-- go when their delivery is sent, failed or cancelled (the digest job removes them), and with
-- the recipient (erasure) or the delivery.
CREATE TABLE {{schema}}.digest_holds (
  delivery_id uuid PRIMARY KEY REFERENCES {{schema}}.deliveries (id) ON DELETE CASCADE,
  recipient_id text NOT NULL REFERENCES {{schema}}.recipients (id) ON DELETE CASCADE,
  type text NOT NULL,
  channel text NOT NULL,
  -- When the digest that takes it is sent: the window's end (moved past quiet hours).
  send_at timestamptz NOT NULL,
  -- The window it was held for (the digest's `window` in templates).
  window_kind text NOT NULL CHECK (window_kind IN ('hourly', 'daily', 'weekly')),
  -- The digest job that took it to send (jobs.id; no foreign key: jobs are deleted when done).
  -- Other digest jobs leave it while that job is queued or running; its own retries take it.
  job_id bigint,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX digest_holds_window_idx ON {{schema}}.digest_holds (recipient_id, type, channel, send_at);
