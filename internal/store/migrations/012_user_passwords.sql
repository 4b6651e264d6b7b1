-- The reps' pages: a user logs in with a password (stored as a bcrypt hash; '' means no
-- password is set and the user cannot log in), and a login opens a session: the browser
-- holds a random id in a cookie, the table keeps only its SHA-256 hash, with the session's
-- CSRF token and its expiry.
ALTER TABLE users ADD COLUMN password_hash text NOT NULL DEFAULT '';

CREATE TABLE sessions (
    id_hash    text PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES users (id),
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

---- create above / drop below ----

DROP TABLE sessions;
ALTER TABLE users DROP COLUMN password_hash;
