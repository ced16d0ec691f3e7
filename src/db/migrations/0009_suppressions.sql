-- 0009: the suppression list, and what providers report after a send.
--
-- An address that hard-bounced, complained of spam, or that an operator blocked is never sent
-- to again on that channel: the trigger skips it with reason `suppressed` (policy.ts).
-- Email addresses are stored lower-cased; phone numbers as the recipient has them (E.164).
CREATE TABLE {{schema}}.suppressions (
  channel text NOT NULL CHECK (channel IN ('email', 'sms', 'whatsapp')),
  address text NOT NULL,
  reason text NOT NULL CHECK (reason IN ('bounce', 'complaint', 'manual')),
  -- Who added it: `admin`, `sendgrid`, `twilio`, ...
  source text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, address)
);

-- Provider status callbacks move a sent delivery on: delivered, bounced, complained (spam
-- report), opened, clicked.
ALTER TABLE {{schema}}.deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE {{schema}}.deliveries ADD CONSTRAINT deliveries_status_check CHECK (status IN
  ('queued', 'sent', 'failed', 'skipped', 'cancelled',
   'delivered', 'bounced', 'complained', 'opened', 'clicked'));
