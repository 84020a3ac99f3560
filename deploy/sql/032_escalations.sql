-- 032_escalations.sql: escalations to the city's control department,
-- written by komek-escalator.  escalation_id is UUIDv5 of (kind, subject
-- and window), so a case detected again is the same row (ON CONFLICT DO
-- NOTHING).  published_at is set once the row's message is committed on
-- the `escalations` topic (see docs/analytics.md: exactly once).
CREATE TABLE escalations (
    escalation_id uuid        PRIMARY KEY,
    kind          text        NOT NULL
                  CHECK (kind IN ('sla_breach', 'systemic', 'inefficient_ksk')),
    org_id        text,
    building_id   text,
    category      text,
    complaint_id  uuid,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    evidence      jsonb       NOT NULL,
    detected_at   timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX escalations_unpublished ON escalations (detected_at)
    WHERE published_at IS NULL;
CREATE INDEX escalations_window ON escalations (window_end);
CREATE UNIQUE INDEX escalations_sla_once ON escalations (complaint_id)
    WHERE kind = 'sla_breach';

-- Escalations per ISO week (local, of window_end: the moment the case
-- became one) and kind.
CREATE VIEW escalations_weekly AS
WITH e AS (
    SELECT (date_trunc('week', (window_end AT TIME ZONE 'UTC')
            + make_interval(secs => p.utc_offset_hours * 3600)))::date AS week_start,
           kind
    FROM escalations, an_params p
)
SELECT week_start, to_char(week_start, 'IYYY-"W"IW') AS iso_week, kind,
       count(*) AS n
FROM e GROUP BY 1, 2, 3;
