-- The alert hook's state: whether each alert (per tenant, destination and measure) is firing,
-- since when (microseconds since the epoch) and above which limit. Changed in the transaction
-- of the message that announces the change, only from the other state: of two processes (or a
-- restarted one) noticing the same change, one records it and announces it, the other
-- nothing.
CREATE TABLE app_alerts (
    tenant      TEXT    NOT NULL,
    alert       TEXT    NOT NULL,
    firing      INTEGER NOT NULL,
    since       INTEGER NOT NULL,
    limit_value INTEGER NOT NULL,
    PRIMARY KEY (tenant, alert)
) STRICT;
