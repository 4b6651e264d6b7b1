-- Threaded follow-ups reply to the deal's last sent email: the ledger keeps each email's
-- subject, the email it answers and the first message of its thread, so a follow-up can say
-- "Re: <subject>" and carry References without asking the mail server. They are written by
-- the first attempt that may have been delivered (sent, or an unknown outcome) and reused by
-- every retry, so one Message-ID always names one message.
ALTER TABLE email_ledger
    ADD COLUMN subject     text NOT NULL DEFAULT '',
    ADD COLUMN in_reply_to text NOT NULL DEFAULT '', -- '' : not a reply
    ADD COLUMN thread_root text NOT NULL DEFAULT ''; -- '' : the email started its thread

CREATE INDEX email_ledger_deal_sent ON email_ledger (deal_id, sent_at DESC) WHERE state = 'sent';

---- create above / drop below ----

DROP INDEX email_ledger_deal_sent;
ALTER TABLE email_ledger DROP COLUMN thread_root, DROP COLUMN in_reply_to, DROP COLUMN subject;
