-- 0006: the send pipeline. A trigger makes one notification per recipient (the inbox item)
-- and one delivery per channel (what was sent where, or why it was skipped). Ids are UUIDv7,
-- made by the application, so a trigger's rows and jobs are written in a few batch statements.

-- One row per used idempotency key: a second trigger with the key answers the first one's
-- notifications (same request) or 409 idempotency_conflict (a different request).
CREATE TABLE {{schema}}.idempotency_keys (
  key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 256),
  -- SHA-256 of the canonical request, to tell a retry from a different request.
  request_hash text NOT NULL,
  trigger_id uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{schema}}.notifications (
  id uuid PRIMARY KEY,
  -- Every notification of one trigger (one POST /v1/notifications) shares this.
  trigger_id uuid NOT NULL,
  -- NULL once the recipient is erased (with data and content scrubbed).
  recipient_id text REFERENCES {{schema}}.recipients (id) ON DELETE SET NULL,
  type text NOT NULL,
  priority text NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  send_at timestamptz NOT NULL,
  cancelled_at timestamptz,
  -- The inbox item: the rendered inapp title/body/actionUrl, set when the inapp delivery is sent.
  inbox jsonb,
  inbox_at timestamptz,
  read_at timestamptz,
  -- Removed from the inbox by the recipient (DELETE /v1/me/notifications/{id}).
  archived_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX notifications_trigger_idx ON {{schema}}.notifications (trigger_id);
CREATE INDEX notifications_recipient_idx ON {{schema}}.notifications (recipient_id);

-- The inbox, newest first, with cursor pagination on (inbox_at, id).
CREATE INDEX notifications_inbox_idx ON {{schema}}.notifications (recipient_id, inbox_at DESC, id DESC)
  WHERE inbox_at IS NOT NULL AND archived_at IS NULL;

CREATE TABLE {{schema}}.deliveries (
  id uuid PRIMARY KEY,
  notification_id uuid NOT NULL REFERENCES {{schema}}.notifications (id) ON DELETE CASCADE,
  channel text NOT NULL,
  -- queued: waiting for its run_at or a worker; sent: the provider accepted it; failed: it
  -- cannot be sent (see reason and error); skipped: never sent, see reason; cancelled.
  status text NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'skipped', 'cancelled')),
  -- Why it was skipped or failed, as a stable code: opted_out, channel_disabled, no_consent,
  -- no_address, no_provider, quiet_hours (deferred, still queued), permanent_error, ...
  reason text,
  run_at timestamptz,
  -- Where it went (an email address, a phone number): personal data, erased with the recipient.
  address text,
  provider text,
  provider_message_id text,
  attempts integer NOT NULL DEFAULT 0,
  error text,
  -- Status history: [{at, status, detail}], appended on every change and failed attempt.
  events jsonb NOT NULL DEFAULT '[]'::jsonb,
  sent_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX deliveries_notification_idx ON {{schema}}.deliveries (notification_id);
CREATE INDEX deliveries_status_idx ON {{schema}}.deliveries (status, updated_at);

-- Secrets Herald makes for itself on first use (the unsubscribe link key), so zero set-up
-- still gives signed links. A configured secret takes precedence.
CREATE TABLE {{schema}}.secrets (
  name text PRIMARY KEY,
  value text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
