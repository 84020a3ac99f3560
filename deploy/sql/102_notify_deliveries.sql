-- 102_notify_deliveries.sql: komek-notify's delivery log (issue 22).
--
-- One row per (event, recipient channel), written in the same transaction
-- as the consumed dispatch offsets (consumer_offsets, consumer
-- notify.name): a restart or a rebalance reads on from there and the
-- unique key drops what was logged already, so nothing is sent twice for
-- a re-read message.  The sender claims due rows with a lease
-- (lease_until), sends, and marks them sent; a crash between sending and
-- marking sends again after the lease, with the same idempotency key
-- (webhooks: event_id) or Message-ID (e-mail) so the receiver drops it.
-- No resident data is stored here: the task's category, place and times
-- only; the staff open the task in the web inbox to see the rest.
--
-- kind: 'new' (attempt 1), 'reroute' (attempt > 1: a task re-routed to
-- this organisation), 'sla_warning' (open and due soon).
-- status: 'pending' (next_at: when to try next, or the digest's slot),
-- 'sent', 'dead' (given up after notify.max_age_s: dead-lettered with
-- the reason in last_error).

CREATE TABLE notify_deliveries (
    id               bigserial   PRIMARY KEY,
    event_id         uuid        NOT NULL,
    kind             text        NOT NULL
                     CHECK (kind IN ('new', 'reroute', 'sla_warning')),
    complaint_id     uuid        NOT NULL,
    attempt          integer     NOT NULL CHECK (attempt >= 1),
    org_id           text        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    target           text        NOT NULL,
    urgent           boolean     NOT NULL,
    category         text        NOT NULL,
    district         text,
    building_id      text,
    routed_at        timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    origin_topic     text,
    origin_partition integer,
    origin_offset    bigint,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'dead')),
    tries            integer     NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    message_id       text,
    last_error       text,
    UNIQUE (event_id, channel, target)
);
CREATE INDEX notify_deliveries_due ON notify_deliveries (next_at)
    WHERE status = 'pending';
CREATE INDEX notify_deliveries_task ON notify_deliveries (complaint_id);
CREATE INDEX notify_deliveries_dead ON notify_deliveries (org_id, created_at)
    WHERE status = 'dead';
