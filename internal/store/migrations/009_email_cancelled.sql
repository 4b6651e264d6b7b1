-- An email the deal stopped while its send was retrying (it left the stage, the prospect
-- replied) ends 'cancelled' with the reason, not 'failed': nothing went wrong with it, and
-- no row is left looking as if it were still being retried.
ALTER TABLE email_ledger DROP CONSTRAINT email_ledger_state_check;
ALTER TABLE email_ledger ADD CONSTRAINT email_ledger_state_check CHECK (state IN
    ('sending', 'retry', 'deferred', 'ambiguous', 'sent', 'suppressed', 'bounced', 'rejected', 'failed', 'cancelled'));

---- create above / drop below ----

UPDATE email_ledger SET state = 'failed' WHERE state = 'cancelled';
ALTER TABLE email_ledger DROP CONSTRAINT email_ledger_state_check;
ALTER TABLE email_ledger ADD CONSTRAINT email_ledger_state_check CHECK (state IN
    ('sending', 'retry', 'deferred', 'ambiguous', 'sent', 'suppressed', 'bounced', 'rejected', 'failed'));
