-- 0012: a recipient's own URLs for the webhook and slack channels (docs/channels.md). A type
-- may name one too (in its definition); the recipient's wins. Erasing the recipient removes them.
ALTER TABLE {{schema}}.recipients
  ADD COLUMN webhook_url text,
  ADD COLUMN slack_webhook_url text;
