-- 095_web_throttle.sql: komek-web's sign-in throttle (issue 19): a lock-out
-- that protects without locking the users out.
--
-- 040's web_login_failures locked a login from every address after five
-- failures, checked before the password and counted after it: anyone could
-- keep a staff member out with five requests per window, everyone behind
-- one proxy shared one address's lock, and parallel attempts got more
-- password checks than the limit.  It is replaced by web_login_throttle,
-- one row per
--   (login, address)  the pair: after web.login_max_failures failures, each
--                     further try waits web.login_delay_s * 2^n seconds
--                     (n = failures past the limit), at most
--                     web.login_delay_max_s;
--   ('', address)     the address over all logins (password spraying):
--                     the same growing delay after web.login_ip_max_failures;
--   (login, '')       the login from any address: locked for web.login_lock_s
--                     at web.login_lock_failures failures within
--                     web.login_lock_window_s (much higher than the pair's
--                     limit; `komek-web users unlock LOGIN` ends it).
-- A pair or address row is forgotten web.login_window_s after its last
-- failure.  Logins are the typed names (known or not, so a throttle says
-- nothing of whether a login exists); an address is the client's, as
-- komek-web determined it (web.trusted_proxy).
--
-- web_login_attempt() checks and counts in one statement, under row locks
-- taken in one order (login, pair, address), so parallel attempts cannot
-- get more password checks than the limit: an attempt is counted as a
-- failure before its password is checked, and web_login_succeeded() takes
-- it back.

DROP TABLE web_login_failures;
DELETE FROM role_grants WHERE object = 'web_login_failures';

CREATE TABLE web_login_throttle (
    login        text        NOT NULL,  -- '' for an address's row
    addr         text        NOT NULL,  -- '' for a login's row
    failures     integer     NOT NULL DEFAULT 0,
    first_at     timestamptz NOT NULL DEFAULT now(),  -- the login's window
    last_at      timestamptz NOT NULL DEFAULT now(),  -- the last failure
    next_at      timestamptz,           -- pair, address: no try before
    locked_until timestamptz,           -- login: locked until
    PRIMARY KEY (login, addr),
    CHECK (login <> '' OR addr <> '')
);
CREATE INDEX web_login_throttle_last ON web_login_throttle (last_at);

-- One sign-in attempt of p_login from p_addr.  @returns 0: go on and check
-- the password (the attempt is counted as a failure already); else the
-- seconds to wait (nothing counted).
CREATE FUNCTION web_login_attempt(p_login text, p_addr text, p_free integer,
                                  p_ip_free integer, p_delay integer,
                                  p_delay_max integer, p_window integer,
                                  p_lock_at integer, p_lock_window integer,
                                  p_lock_s integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    u  web_login_throttle;
    pr web_login_throttle;
    ip web_login_throttle;
    w  double precision;
BEGIN
    INSERT INTO web_login_throttle (login, addr)
        VALUES (p_login, ''), (p_login, p_addr), ('', p_addr)
        ON CONFLICT DO NOTHING;
    SELECT * INTO u FROM web_login_throttle
        WHERE login = p_login AND addr = '' FOR UPDATE;
    SELECT * INTO pr FROM web_login_throttle
        WHERE login = p_login AND addr = p_addr FOR UPDATE;
    SELECT * INTO ip FROM web_login_throttle
        WHERE login = '' AND addr = p_addr FOR UPDATE;
    -- forget what is old
    IF u.first_at < now() - p_lock_window * interval '1 second' AND
       (u.locked_until IS NULL OR u.locked_until <= now()) THEN
        u.failures := 0; u.first_at := now(); u.locked_until := NULL;
    END IF;
    IF pr.last_at < now() - p_window * interval '1 second' THEN
        pr.failures := 0; pr.next_at := NULL;
    END IF;
    IF ip.last_at < now() - p_window * interval '1 second' THEN
        ip.failures := 0; ip.next_at := NULL;
    END IF;
    -- greatest() ignores NULLs
    w := greatest(extract(epoch FROM u.locked_until - now()),
                  extract(epoch FROM pr.next_at - now()),
                  extract(epoch FROM ip.next_at - now()), 0);
    IF w > 0 THEN
        RETURN greatest(ceil(w), 1)::integer;
    END IF;
    u.failures := u.failures + 1;
    IF u.failures >= p_lock_at THEN
        u.locked_until := now() + p_lock_s * interval '1 second';
    END IF;
    pr.failures := pr.failures + 1;
    IF pr.failures >= p_free THEN
        pr.next_at := now() + least(p_delay_max::double precision,
            p_delay * power(2, least(pr.failures - p_free, 30)))
            * interval '1 second';
    END IF;
    ip.failures := ip.failures + 1;
    IF ip.failures >= p_ip_free THEN
        ip.next_at := now() + least(p_delay_max::double precision,
            p_delay * power(2, least(ip.failures - p_ip_free, 30)))
            * interval '1 second';
    END IF;
    UPDATE web_login_throttle SET failures = u.failures, first_at = u.first_at,
           last_at = now(), locked_until = u.locked_until
        WHERE login = p_login AND addr = '';
    UPDATE web_login_throttle SET failures = pr.failures, last_at = now(),
           next_at = pr.next_at
        WHERE login = p_login AND addr = p_addr;
    UPDATE web_login_throttle SET failures = ip.failures, last_at = now(),
           next_at = ip.next_at
        WHERE login = '' AND addr = p_addr;
    RETURN 0;
END $$;

-- The password was right: the pair is forgotten, and the attempt counted
-- on the login and the address is taken back (a lock it alone made ends).
CREATE FUNCTION web_login_succeeded(p_login text, p_addr text,
                                    p_lock_at integer)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE web_login_throttle SET failures = greatest(failures - 1, 0),
           locked_until = CASE WHEN failures - 1 < p_lock_at THEN NULL
                               ELSE locked_until END
        WHERE login = p_login AND addr = '';
    DELETE FROM web_login_throttle WHERE login = p_login AND addr = p_addr;
    UPDATE web_login_throttle SET failures = greatest(failures - 1, 0)
        WHERE login = '' AND addr = p_addr;
END $$;

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_web', 'web_login_throttle', 'SELECT, INSERT, UPDATE, DELETE', NULL)
ON CONFLICT DO NOTHING;

SELECT komek_grant_roles();
