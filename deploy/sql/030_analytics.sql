-- 030_analytics.sql: komek-analytics' facts and incremental aggregates.
--
-- Written only by komek-analytics, one PostgreSQL transaction per consumed
-- batch: the facts (INSERT ... ON CONFLICT DO NOTHING, so a complaint id,
-- task attempt, task event or vote is counted once however often it
-- arrives), the aggregates (incremented by the rows that were new), the
-- per-partition event-time watermarks and the consumed offsets
-- (consumer_offsets, 001).  No personal data: no contact, no description,
-- no street/house/apartment, no resident identity (votes keep only their
-- derived vote_id); staff notes are not kept either.

-- Settings komek-analytics writes on start from komek.conf (analytics { }),
-- so the views below use the configured rating weights and minimums.
CREATE TABLE an_settings (
    key        text PRIMARY KEY,
    value      double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO an_settings (key, value) VALUES
    ('utc_offset_hours', 5),
    ('rating_w_complaints', 0.30),
    ('rating_w_resolution', 0.20),
    ('rating_w_sla', 0.20),
    ('rating_w_repeat', 0.10),
    ('rating_w_votes', 0.20),
    ('rating_min_complaints', 5),
    ('rating_min_votes', 5),
    ('rating_repeat_days', 30);

-- Facts ---------------------------------------------------------------------

-- One row per complaint id (topic `complaints`).  day is the local
-- (utc_offset_hours) calendar day of received_at.
CREATE TABLE an_complaints (
    complaint_id uuid        PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    day          date        NOT NULL,
    category     text        NOT NULL,
    channel      text        NOT NULL,  -- 'unknown' when not given
    source       text        NOT NULL,
    building_id  text,
    emergency    boolean     NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per dispatched task (complaint_id, attempt) (topic `dispatch`).
CREATE TABLE an_tasks (
    complaint_id uuid        NOT NULL,
    attempt      integer     NOT NULL CHECK (attempt >= 1),
    org_id       text        NOT NULL,
    org_kind     text        NOT NULL,
    building_id  text,
    district     text,
    category     text        NOT NULL,
    route_reason text,
    received_at  timestamptz NOT NULL,
    day          date        NOT NULL,
    routed_at    timestamptz NOT NULL,
    due_at       timestamptz NOT NULL,
    channel      text        NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, attempt)
);
CREATE INDEX an_tasks_org ON an_tasks (org_id, day);
CREATE INDEX an_tasks_bcat ON an_tasks (building_id, category, received_at);
CREATE INDEX an_tasks_day ON an_tasks (day);

-- One row per task event (topic `task-events`), deduplicated on event_id.
CREATE TABLE an_task_events (
    event_id     uuid        PRIMARY KEY,
    complaint_id uuid        NOT NULL,
    attempt      integer     NOT NULL,
    org_id       text        NOT NULL,
    event        text        NOT NULL
                 CHECK (event IN ('acknowledged', 'resolved', 'rejected')),
    at           timestamptz NOT NULL,
    reason       text,
    loaded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX an_task_events_task ON an_task_events (complaint_id, attempt);

-- One row per vote (topic `votes`); the first vote_id wins.
CREATE TABLE an_votes (
    vote_id  uuid        PRIMARY KEY,
    ksk_id   text        NOT NULL,
    month    date        NOT NULL,  -- first day of the month voted for
    score    smallint    NOT NULL CHECK (score BETWEEN 1 AND 5),
    voted_at timestamptz NOT NULL
);

-- Aggregates, incremented in the same transaction as the facts ---------------

-- Complaints per local day x category x channel (from `complaints`).
CREATE TABLE an_daily (
    day      date   NOT NULL,
    category text   NOT NULL,
    channel  text   NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (day, category, channel)
);

-- Routed complaints (first attempt) per local day x category x district
-- (from `dispatch`; '' = district not known: unknown building, triage).
CREATE TABLE an_daily_district (
    day      date   NOT NULL,
    category text   NOT NULL,
    district text   NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (day, category, district)
);

-- Tasks per local day x organisation x category (every attempt).
CREATE TABLE an_org_daily (
    day      date   NOT NULL,
    org_id   text   NOT NULL,
    category text   NOT NULL,
    n        bigint NOT NULL,
    PRIMARY KEY (day, org_id, category)
);

-- Votes per KSK and month.
CREATE TABLE an_vote_month (
    ksk_id    text   NOT NULL,
    month     date   NOT NULL,
    n         bigint NOT NULL,
    score_sum bigint NOT NULL,
    PRIMARY KEY (ksk_id, month)
);

-- Event-time watermark per consumed partition: the latest event time seen
-- (complaints: received_at, dispatch: received_at, task-events: at, votes:
-- voted_at).  komek-escalator only judges what is older than the
-- watermark of a partition that is not yet caught up.
CREATE TABLE an_watermarks (
    consumer  text        NOT NULL,
    topic     text        NOT NULL,
    partition integer     NOT NULL,
    event_at  timestamptz NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);
