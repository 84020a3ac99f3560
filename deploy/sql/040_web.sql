-- 040_web.sql: komek-web's people (docs/web.md): logins of organisation
-- staff and analysts, their sessions, and failed-login counters.
--
-- Passwords are stored only as PBKDF2-HMAC-SHA256 hashes
-- ("pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>", OpenSSL
-- PKCS5_PBKDF2_HMAC, random 16-byte salt).  A session cookie carries 32
-- random bytes; only their SHA-256 is stored here, so a copy of this table
-- cannot be replayed as cookies.  Nothing here is a resident's data.

CREATE TABLE web_users (
    login         text        PRIMARY KEY
                  CHECK (login ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    role          text        NOT NULL CHECK (role IN ('staff', 'analyst')),
    -- staff: the organisation whose inbox they work (organisations.id; no
    -- foreign key, so komek-directory --prune never fails on a login)
    org_id        text,
    password      text        NOT NULL CHECK (password LIKE 'pbkdf2\_sha256$%'),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz,
    CHECK ((role = 'staff') = (org_id IS NOT NULL))
);

CREATE TABLE web_sessions (
    id_hash      text        PRIMARY KEY,   -- hex SHA-256 of the cookie's id
    login        text        NOT NULL REFERENCES web_users
                             ON DELETE CASCADE ON UPDATE CASCADE,
    csrf         text        NOT NULL,      -- the session's form token
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    -- min(created_at + web.session_max_s, last_seen_at + web.session_idle_s)
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_sessions_login ON web_sessions (login);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Failed logins per login name ('user:<login>', known or not, so a lock
-- says nothing about whether a login exists) and per client address
-- ('ip:<address>'), counted within web.login_window_s; at the limit the
-- key is locked until locked_until.
CREATE TABLE web_login_failures (
    key          text        PRIMARY KEY,
    failures     integer     NOT NULL,
    first_at     timestamptz NOT NULL,
    locked_until timestamptz
);
