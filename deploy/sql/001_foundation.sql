-- 001_foundation.sql: what every exactly-once sink needs.
-- Applied by `komek-admin migrate`, once, in a transaction, recorded in
-- schema_migrations.

-- Consumer offsets kept next to the rows they produced: a sink writes its
-- rows and the next offset of each partition in one transaction, and seeks
-- here on start and on every assignment.
CREATE TABLE consumer_offsets (
    consumer    text        NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, partition)
);

-- The service catalogue (Open311 services), loaded from komek.conf's
-- categories by `komek-admin migrate` on every run.
CREATE TABLE categories (
    code      text    PRIMARY KEY,
    kind      text    NOT NULL,
    name_ru   text    NOT NULL,
    name_en   text    NOT NULL,
    sla_hours integer NOT NULL CHECK (sla_hours > 0)
);
