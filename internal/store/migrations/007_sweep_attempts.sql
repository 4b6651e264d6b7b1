-- The sweeper re-sends inbound events left in received. It notes each attempt, and takes
-- the rows it has tried least recently first, so rows that keep failing (a deal whose
-- workflow cannot be reached, say) never hold back newer ones.
ALTER TABLE inbound_events
    ADD COLUMN swept_at       timestamptz, -- the sweeper's last attempt; NULL: never tried
    ADD COLUMN sweep_attempts int NOT NULL DEFAULT 0;

---- create above / drop below ----

ALTER TABLE inbound_events DROP COLUMN sweep_attempts, DROP COLUMN swept_at;
