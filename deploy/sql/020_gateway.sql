-- 020_gateway.sql: komek-gateway (Open311) and komek-keys.
--
-- api_keys: integration keys, stored as the SHA-256 of the key (the key
-- itself is shown once by `komek-keys add` and never stored).  Each key has
-- the source name its complaints are published under and a rate limit in
-- requests per minute (enforced per gateway process, in memory).
CREATE TABLE api_keys (
    id          bigserial   PRIMARY KEY,
    key_sha256  text        NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    key_prefix  text        NOT NULL,          -- first characters, to tell keys apart
    source      text        NOT NULL CHECK (source ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    rate_limit  integer     NOT NULL CHECK (rate_limit > 0), -- requests per minute
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- gateway_requests: what the gateway accepted.  A row is written before the
-- complaint is published (published_at NULL) and marked published once the
-- broker acknowledged it; a resubmission of the same (source, external_id)
-- finds the published row and gets the same id without a second publish.
-- GET /requests reads these rows (joined with tasks when the routing
-- engine's table exists).  No contact data here: it travels only on the
-- complaints topic.
CREATE TABLE gateway_requests (
    id            uuid        PRIMARY KEY,     -- the complaint id
    source        text        NOT NULL,
    external_id   text,
    api_key_id    bigint      REFERENCES api_keys (id),
    service_code  text        NOT NULL,
    description   text        NOT NULL,
    address       text,
    building_id   text,
    lat           double precision,
    long          double precision,
    media_url     text,
    requested_at  timestamptz NOT NULL,
    published_at  timestamptz,
    UNIQUE (source, external_id)
);
CREATE INDEX gateway_requests_requested_at ON gateway_requests (requested_at);
