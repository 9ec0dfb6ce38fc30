-- Parked outbox messages: the relay gives up on a message the receiver refused for good (a
-- 4xx other than 408, 425 and 429) or that ran out of attempts. A parked message is never
-- claimed again and waits for an operator; health pages count it.
ALTER TABLE app_outbox ADD COLUMN parked_at timestamptz;

-- What a relay claims is now what is neither delivered nor parked; the old index also covered
-- parked rows, which the claim would have to skip one by one.
DROP INDEX app_outbox_due;
CREATE INDEX app_outbox_due ON app_outbox (tenant, next_attempt_at, created_at)
    WHERE delivered_at IS NULL AND parked_at IS NULL;

-- What health pages count.
CREATE INDEX app_outbox_parked ON app_outbox (tenant)
    WHERE delivered_at IS NULL AND parked_at IS NOT NULL;
