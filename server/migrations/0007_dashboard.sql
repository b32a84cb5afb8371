-- Dashboard users (SPEC §12), their sign-in sessions, and the failed sign-ins that lock an email.

CREATE TABLE dashboard_users (
    id            TEXT PRIMARY KEY,          -- usr_…
    client_id     TEXT NOT NULL REFERENCES clients (id),
    email         TEXT NOT NULL,             -- lowercase; one user per email
    password_hash TEXT NOT NULL,             -- Argon2id, PHC string
    role          TEXT NOT NULL,             -- owner | admin | developer | viewer
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX dashboard_users_email ON dashboard_users (email);
CREATE INDEX dashboard_users_client ON dashboard_users (client_id, created_at);

-- A signed-in browser: the cookie's random token, kept as a SHA-256 hash.
CREATE TABLE dashboard_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES dashboard_users (id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL             -- idle for 12 hours: over
);
CREATE INDEX dashboard_sessions_user ON dashboard_sessions (user_id);

-- Sign-in attempts not (yet) known good, by email: five within 15 minutes lock the email.
CREATE TABLE dashboard_signin_failures (
    id    TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX dashboard_signin_failures_email ON dashboard_signin_failures (email, at);

CREATE TABLE dashboard_lockouts (
    email        TEXT PRIMARY KEY,
    locked_until BIGINT NOT NULL
);
