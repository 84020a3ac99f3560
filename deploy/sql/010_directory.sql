-- 010_directory.sql: the building directory (komek-directory imports it
-- from CSV; the router loads it into memory and reloads it when
-- directory_version changes).  Contact data here is the organisations'
-- office phones, never residents'.

CREATE TABLE organisations (
    id         text        PRIMARY KEY,
    kind       text        NOT NULL
               CHECK (kind IN ('ksk', 'lift_operator', 'utility', 'triage')),
    name       text        NOT NULL,
    district   text,
    phone      text,
    updated_at timestamptz
);

CREATE TABLE buildings (
    id               text             PRIMARY KEY,
    district         text             NOT NULL,
    street           text             NOT NULL,
    house            text             NOT NULL,
    apartments       integer          NOT NULL,
    ksk_id           text             REFERENCES organisations,
    lift_operator_id text             REFERENCES organisations,
    lat              double precision,
    long             double precision,
    updated_at       timestamptz,
    -- normalised address (common/km_addr.c): "улица Кенесары" -> "kenesar",
    -- "12А" -> "12a"; written by komek-directory
    street_key       text             NOT NULL DEFAULT '',
    house_key        text             NOT NULL DEFAULT ''
);
CREATE INDEX buildings_address ON buildings (street_key, house_key);
CREATE INDEX buildings_ksk ON buildings (ksk_id);
CREATE INDEX buildings_lift_operator ON buildings (lift_operator_id);

-- One row: bumped by every import that changed something; routers poll it.
CREATE TABLE directory_version (
    id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    summary    text
);
INSERT INTO directory_version (id, version, summary)
VALUES (true, 0, 'empty');

-- What cannot be routed goes here (docs/routing.md).
INSERT INTO organisations (id, kind, name, updated_at)
VALUES ('triage', 'triage', 'Диспетчерская 109 (сортировка)', now());
