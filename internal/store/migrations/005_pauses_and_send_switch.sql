-- Pauses of a whole owner (a holiday, sick leave) or pipeline. Every open deal of the owner
-- or pipeline is signalled, and a deal that starts while a pause is active starts paused. A
-- pause with an end (until) lifts by itself then: queries treat until <= now() as lifted.
-- A deal's own pause lives in its workflow only.
CREATE TABLE pauses (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope      text NOT NULL CHECK (scope IN ('owner', 'pipeline')),
    key        text NOT NULL, -- the owner id, or the pipeline id
    since      timestamptz NOT NULL DEFAULT now(),
    until      timestamptz,
    reason     text NOT NULL DEFAULT '',
    source     text NOT NULL, -- who asked: cli, api, …
    -- Bumped when a second pause of the same scope and key moves the end: the deals' event ids
    -- carry it, so each change reaches every deal once and a retry converges.
    revision   int NOT NULL DEFAULT 1,
    lifted_at  timestamptz,
    lifted_by  text NOT NULL DEFAULT '', -- the source of the resume, or 'until' when it ran out
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (until IS NULL OR until > since)
);
-- At most one pause not lifted per owner or pipeline; one that ran out is marked lifted when
-- the next pause of the same key is recorded.
CREATE UNIQUE INDEX pauses_one_open_idx ON pauses (scope, key) WHERE lifted_at IS NULL;
CREATE INDEX pauses_key_idx ON pauses (scope, key, id);

-- The global send switch, one row: while held, the send activity sends nothing (and the
-- email waits, as a deferred one does).
CREATE TABLE send_switch (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    held       boolean NOT NULL DEFAULT false,
    reason     text NOT NULL DEFAULT '',
    changed_by text NOT NULL DEFAULT '',
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO send_switch (id) VALUES (true);

---- create above / drop below ----

DROP TABLE send_switch;
DROP TABLE pauses;
