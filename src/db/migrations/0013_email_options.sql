-- 0013: a trigger's email options (`email` in POST /v1/notifications): Reply-To, extra headers
-- and attachments (base64), kept on each of its notifications, so the deliver job (whose
-- payload is only the delivery id) finds them. NULL: none. Cleared when the recipient is erased.
ALTER TABLE {{schema}}.notifications ADD COLUMN email jsonb;
