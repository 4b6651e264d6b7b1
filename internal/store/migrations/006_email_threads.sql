-- Threaded follow-ups reply to the deal's last sent email: the ledger keeps each sent
-- email's subject and the first message of its thread, so a follow-up can say
-- "Re: <subject>" and carry References without asking the mail server.
ALTER TABLE email_ledger
    ADD COLUMN subject     text NOT NULL DEFAULT '',
    ADD COLUMN thread_root text NOT NULL DEFAULT ''; -- '' : the email started its thread

CREATE INDEX email_ledger_deal_sent ON email_ledger (deal_id, sent_at DESC) WHERE state = 'sent';

---- create above / drop below ----

DROP INDEX email_ledger_deal_sent;
ALTER TABLE email_ledger DROP COLUMN thread_root, DROP COLUMN subject;
