-- The rep's morning: one digest email per rep per business morning. digest_ledger holds one
-- row per (owner, local date): claimed before SMTP (with the claim's time, a lease a crashed
-- send outlives), sent after; a second round, a retry or a second worker finds the row and
-- sends nothing. users.digest_off is the rep's own switch (`starter user digest EMAIL off`).
ALTER TABLE users ADD COLUMN digest_off boolean NOT NULL DEFAULT false;

CREATE TABLE digest_ledger (
    owner_id   uuid NOT NULL REFERENCES owners (id),
    local_date date NOT NULL, -- the morning's date in the owner's zone
    state      text NOT NULL CHECK (state IN ('claimed', 'sent')),
    message_id text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (owner_id, local_date)
);

---- create above / drop below ----

DROP TABLE digest_ledger;
ALTER TABLE users DROP COLUMN digest_off;
