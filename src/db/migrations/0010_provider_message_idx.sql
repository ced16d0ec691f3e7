-- 0010: status callbacks that name a message only by the provider's id (Twilio's MessageSid)
-- find its delivery through this index.
CREATE INDEX deliveries_provider_message_idx ON {{schema}}.deliveries (provider, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
