-- The mailbox intake: replies, automatic replies and delivery reports read from IMAP
-- mailboxes (and posted as raw MIME). Each message read is recorded once, by its own
-- Message-ID (or a hash of it when it has none), with what it was, what it was matched to and
-- what became of it; each polled mailbox keeps where it stopped.
CREATE TABLE inbound_messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_key  text NOT NULL UNIQUE, -- 'mid:' || Message-ID, or 'sha256:' || hex of the message
    source       text NOT NULL,        -- 'imap:' || mailbox name, or 'api'
    uid          bigint,               -- the IMAP UID it was read under
    from_address text NOT NULL DEFAULT '',
    subject      text NOT NULL DEFAULT '',
    sent_at      timestamptz,          -- the message's Date
    kind         text NOT NULL CHECK (kind IN
                   ('reply', 'auto_reply', 'bounce', 'delayed', 'complaint', 'feedback', 'notice', 'list', 'unreadable')),
    rule         text NOT NULL DEFAULT '', -- the classification rule that decided the kind
    match        text NOT NULL CHECK (match IN ('thread', 'sender', 'recipient', 'none')),
    -- The email of ours it answers or reports on (thread and recipient matches): the ledger
    -- key, so a reply is counted on the step it answered.
    answers_deal       uuid,
    answers_visit      int,
    answers_step       text,
    answers_occurrence int,
    outcome      text NOT NULL CHECK (outcome IN ('engaged', 'recorded', 'ignored')),
    reason       text NOT NULL DEFAULT '',
    return_on    date,                 -- an automatic reply's return date, when one was read
    deal_ids     uuid[] NOT NULL DEFAULT '{}',   -- the deals it was delivered to
    event_ids    bigint[] NOT NULL DEFAULT '{}', -- their inbound_events
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_messages_answers_idx ON inbound_messages (answers_deal, answers_visit, answers_step, answers_occurrence)
    WHERE answers_deal IS NOT NULL;
CREATE INDEX inbound_messages_received_idx ON inbound_messages (received_at);

CREATE TABLE mailbox_cursors (
    mailbox      text PRIMARY KEY, -- the configured mailbox's name
    uid_validity bigint NOT NULL,
    last_uid     bigint NOT NULL DEFAULT 0, -- every message up to it was taken in
    polled_at    timestamptz,
    last_error   text NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A delivery report names the failed address: the emails we sent it.
CREATE INDEX email_ledger_to_address_idx ON email_ledger (lower(to_address));

---- create above / drop below ----

DROP INDEX email_ledger_to_address_idx;
DROP TABLE mailbox_cursors;
DROP TABLE inbound_messages;
