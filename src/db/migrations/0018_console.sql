-- 0018: what the operator's console and the list endpoints need.

-- A read-only admin key: it opens the console and GET /v1/admin/..., and changes nothing.
ALTER TABLE {{schema}}.api_keys ADD COLUMN read_only boolean NOT NULL DEFAULT false;
ALTER TABLE {{schema}}.api_keys ADD CONSTRAINT api_keys_read_only_admin CHECK (NOT read_only OR admin);

-- Console sessions: the cookie carries the id, signed; sign-out and key revocation end them.
-- `csrf` is the token every form that changes something must send back.
CREATE TABLE {{schema}}.admin_sessions (
  id text PRIMARY KEY,
  key_id text NOT NULL,
  read_only boolean NOT NULL,
  csrf text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX admin_sessions_expiry_idx ON {{schema}}.admin_sessions (expires_at);

-- Job kinds an operator paused: claims skip them until resumed (jobs already running finish).
CREATE TABLE {{schema}}.paused_kinds (
  queue text NOT NULL,
  kind text NOT NULL,
  paused_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, kind)
);

-- GET /v1/notifications: newest first (ids are UUIDv7, so id order is time order) under each
-- filter. The recipient index replaces the one on recipient_id alone.
DROP INDEX {{schema}}.notifications_recipient_idx;
CREATE INDEX notifications_recipient_idx ON {{schema}}.notifications (recipient_id, id DESC);
CREATE INDEX notifications_type_idx ON {{schema}}.notifications (type, id DESC);
-- Search by a key/value of the trigger's data (data @> {"key": value}).
CREATE INDEX notifications_data_idx ON {{schema}}.notifications USING gin (data jsonb_path_ops);
-- Notifications with a delivery in a status (failed, skipped, ...), newest first.
CREATE INDEX deliveries_status_notification_idx ON {{schema}}.deliveries (status, notification_id DESC);
-- A notification's idempotency key, shown on its timeline.
CREATE INDEX idempotency_keys_trigger_idx ON {{schema}}.idempotency_keys (trigger_id);

-- GET /v1/recipients?prefix=: a prefix of the id or of the email in any case (LIKE 'p%').
CREATE INDEX recipients_id_prefix_idx ON {{schema}}.recipients (id text_pattern_ops);
CREATE INDEX recipients_email_prefix_idx ON {{schema}}.recipients (lower(email) text_pattern_ops);

-- The rendered message as sent (subject, text, HTML; push title and body), for the timeline
-- (HERALD_KEEP_CONTENT, default on). Personal data: erased with the recipient.
ALTER TABLE {{schema}}.deliveries ADD COLUMN content jsonb;
