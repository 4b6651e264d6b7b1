-- Who uses the API: named users with a role, and their API tokens (stored as hashes, shown
-- once). A rep is a deal owner by the same email. Every inbound event records the actor who
-- sent it, as authenticated, beside the source the caller names.
CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email       text NOT NULL,
    name        text NOT NULL DEFAULT '',
    role        text NOT NULL CHECK (role IN ('ops', 'rep', 'integration')),
    disabled_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES users (id),
    name         text NOT NULL,
    -- Hex SHA-256 of the token: 32 random bytes need no slow hash, and a lookup by hash is
    -- one index probe.
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

ALTER TABLE inbound_events ADD COLUMN actor text NOT NULL DEFAULT '';

---- create above / drop below ----

ALTER TABLE inbound_events DROP COLUMN actor;
DROP TABLE api_tokens;
DROP TABLE users;
