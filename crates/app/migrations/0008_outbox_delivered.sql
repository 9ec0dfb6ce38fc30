-- Sync monitoring per destination: the last delivery and the deliveries of the last minutes,
-- read through this index (a skip scan over the destinations, then one short range each)
-- instead of the whole delivered history.
CREATE INDEX app_outbox_delivered ON app_outbox (tenant, destination, delivered_at)
    WHERE delivered_at IS NOT NULL;
