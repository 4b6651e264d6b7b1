-- Send limits: a rolling 24-hour cap per sending mailbox and spacing between deals that
-- email the same contact. A send that would break either is deferred (state 'deferred'),
-- not failed: the deal re-plans it into the next window with the same ledger key.
ALTER TABLE email_ledger DROP CONSTRAINT email_ledger_state_check;
ALTER TABLE email_ledger ADD CONSTRAINT email_ledger_state_check CHECK (state IN
    ('sending', 'retry', 'deferred', 'ambiguous', 'sent', 'suppressed', 'bounced', 'rejected', 'failed'));
-- The sending mailbox (lower-cased From address) and when this attempt took one of its slots.
ALTER TABLE email_ledger ADD COLUMN mailbox text NOT NULL DEFAULT '';
ALTER TABLE email_ledger ADD COLUMN counted_at timestamptz;
CREATE INDEX email_ledger_mailbox_idx ON email_ledger (mailbox, counted_at) WHERE counted_at IS NOT NULL;
CREATE INDEX email_ledger_contact_idx ON email_ledger (contact_id, claimed_at);

---- create above / drop below ----

DROP INDEX email_ledger_contact_idx;
DROP INDEX email_ledger_mailbox_idx;
ALTER TABLE email_ledger DROP COLUMN counted_at;
ALTER TABLE email_ledger DROP COLUMN mailbox;
UPDATE email_ledger SET state = 'retry' WHERE state = 'deferred';
ALTER TABLE email_ledger DROP CONSTRAINT email_ledger_state_check;
ALTER TABLE email_ledger ADD CONSTRAINT email_ledger_state_check CHECK (state IN
    ('sending', 'retry', 'ambiguous', 'sent', 'suppressed', 'bounced', 'rejected', 'failed'));
