-- 0008: what a provider reports about a sent message beyond its id (an SMS's segment count,
-- the devices a push reached), kept on the delivery.
ALTER TABLE {{schema}}.deliveries ADD COLUMN details jsonb;
