-- The engine's core tables. PostgreSQL holds the read model and the ledgers; workflow
-- histories hold ids only.

CREATE TABLE owners (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL,
    name           text NOT NULL DEFAULT '',
    company        text NOT NULL DEFAULT '',
    zone           text NOT NULL DEFAULT 'UTC',
    country        text NOT NULL DEFAULT '',
    business_hours text NOT NULL DEFAULT 'Mon-Fri 09:00-17:00',
    -- The sender identity of the owner's nurture emails.
    sender_from     text NOT NULL DEFAULT '',
    sender_reply_to text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX owners_email_key ON owners (lower(email));

CREATE TABLE contacts (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email      text NOT NULL,
    first_name text NOT NULL DEFAULT '',
    last_name  text NOT NULL DEFAULT '',
    company    text NOT NULL DEFAULT '',
    zone       text NOT NULL DEFAULT 'UTC',
    country    text NOT NULL DEFAULT '',
    locale     text NOT NULL DEFAULT 'en',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (lower(email));

-- Immutable published cadences; hash covers the canonical JSON of the model and templates.
CREATE TABLE cadence_versions (
    version      bigint PRIMARY KEY CHECK (version >= 0),
    pipeline_id  text NOT NULL,
    hash         text NOT NULL UNIQUE,
    model        jsonb NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deals (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id         uuid NOT NULL REFERENCES owners (id),
    contact_id       uuid NOT NULL REFERENCES contacts (id),
    title            text NOT NULL DEFAULT '',
    cadence_version  bigint NOT NULL REFERENCES cadence_versions (version),
    stage            text NOT NULL DEFAULT '',
    stage_visit      int NOT NULL DEFAULT 0,
    stage_entered_at timestamptz,
    stage_deadline   timestamptz,
    next_action_at   timestamptz,
    state            text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    closed_at        timestamptz,
    -- The workflow's revision of the projection; older writes are ignored.
    revision         bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deals_owner_idx ON deals (owner_id);
CREATE INDEX deals_contact_idx ON deals (contact_id);

-- A deal created through the API and later seen from a CRM stays one deal.
CREATE TABLE deal_external_ids (
    source      text NOT NULL,
    external_id text NOT NULL,
    deal_id     uuid NOT NULL REFERENCES deals (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, external_id)
);
CREATE INDEX deal_external_ids_deal_idx ON deal_external_ids (deal_id);

CREATE TABLE stage_transitions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id         uuid NOT NULL REFERENCES deals (id),
    visit           int NOT NULL CHECK (visit > 0),
    from_stage      text NOT NULL DEFAULT '',
    to_stage        text NOT NULL,
    at              timestamptz NOT NULL,
    source          text NOT NULL,
    source_event_id text NOT NULL DEFAULT '',
    source_time     timestamptz,
    reason          text NOT NULL DEFAULT '',
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (deal_id, visit)
);

-- The projection of each open deal's agenda, for pages that must work without a worker.
CREATE TABLE planned_actions (
    deal_id    uuid NOT NULL REFERENCES deals (id),
    item_id    text NOT NULL,
    visit      int NOT NULL,
    kind       text NOT NULL,
    step_id    text NOT NULL DEFAULT '',
    occurrence int NOT NULL DEFAULT 0,
    at         timestamptz NOT NULL,
    due_at     timestamptz,
    reason     text NOT NULL,
    revision   bigint NOT NULL,
    PRIMARY KEY (deal_id, item_id)
);
CREATE INDEX planned_actions_at_idx ON planned_actions (at);

CREATE TABLE tasks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id      uuid NOT NULL REFERENCES deals (id),
    owner_id     uuid NOT NULL REFERENCES owners (id),
    visit        int NOT NULL,
    step_id      text NOT NULL,
    occurrence   int NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('call', 'email', 'linkedin', 'todo')),
    title        text NOT NULL,
    due_at       timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done', 'skipped', 'cancelled')),
    created_at   timestamptz NOT NULL,
    closed_at    timestamptz,
    close_reason text NOT NULL DEFAULT '',
    UNIQUE (deal_id, visit, step_id, occurrence)
);
CREATE INDEX tasks_owner_open_idx ON tasks (owner_id, due_at) WHERE state = 'open';

-- One row per email the cadence meant to send. The key is (deal, visit, step, occurrence):
-- never a run id, never a cadence version, so neither continue-as-new nor a migration resends.
CREATE TABLE email_ledger (
    deal_id       uuid NOT NULL REFERENCES deals (id),
    visit         int NOT NULL,
    step_id       text NOT NULL,
    occurrence    int NOT NULL,
    contact_id    uuid NOT NULL REFERENCES contacts (id),
    to_address    text NOT NULL,
    template      text NOT NULL,
    message_id    text NOT NULL UNIQUE, -- stored at claim; every retry reuses it
    state         text NOT NULL CHECK (state IN
                    ('sending', 'retry', 'ambiguous', 'sent', 'suppressed', 'bounced', 'rejected', 'failed')),
    attempts      int NOT NULL DEFAULT 0,
    ambiguous     boolean NOT NULL DEFAULT false, -- some attempt's outcome was unknown (RFC 1047)
    lease_until   timestamptz,
    smtp_code     int,
    smtp_enhanced text NOT NULL DEFAULT '',
    detail        text NOT NULL DEFAULT '',
    claimed_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (deal_id, visit, step_id, occurrence)
);

-- Suppression always wins: checked inside the send, under the contact's lock.
CREATE TABLE suppressions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contact_id uuid REFERENCES contacts (id),
    address    text, -- lower-cased
    reason     text NOT NULL CHECK (reason IN ('unsubscribe', 'bounce', 'complaint', 'manual')),
    source     text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (contact_id IS NOT NULL OR address IS NOT NULL)
);
CREATE INDEX suppressions_address_idx ON suppressions (address) WHERE address IS NOT NULL;
CREATE INDEX suppressions_contact_idx ON suppressions (contact_id) WHERE contact_id IS NOT NULL;

-- Every input from outside, recorded before it is acted on; state says what became of it.
CREATE TABLE inbound_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text NOT NULL,
    source_event_id text NOT NULL,
    kind            text NOT NULL,
    deal_id         uuid REFERENCES deals (id),
    source_time     timestamptz NOT NULL,
    payload         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'received' CHECK (state IN
                      ('received', 'signalled', 'applied', 'ignored', 'duplicate', 'refused')),
    outcome_reason  text NOT NULL DEFAULT '',
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, source_event_id)
);
CREATE INDEX inbound_events_received_idx ON inbound_events (received_at) WHERE state = 'received';

---- create above / drop below ----

DROP TABLE inbound_events;
DROP TABLE suppressions;
DROP TABLE email_ledger;
DROP TABLE tasks;
DROP TABLE planned_actions;
DROP TABLE stage_transitions;
DROP TABLE deal_external_ids;
DROP TABLE deals;
DROP TABLE cadence_versions;
DROP TABLE contacts;
DROP TABLE owners;
