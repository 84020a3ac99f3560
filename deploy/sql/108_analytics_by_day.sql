-- 108_analytics_by_day.sql: per-organisation figures by the day (issue 17).
--
-- A complaint counts for the organisation that was responsible for its
-- building (building_orgs, 107) when it arrived, whoever holds it now:
--   task_times.org_id     the organisation the task counts for: the one
--                         responsible at received_at for the task's kind
--                         (ksk / lift_operator); the attempt's own
--                         organisation when the directory has no period
--                         for it (triage, utilities, unknown building);
--   task_times.routed_org_id  the organisation the attempt was sent to;
--   task_times.handed_over    the task moved on a handover.
-- A handover (route_reason 'rerouted:handover', komek-directory import)
-- continues the same assignment: its attempts are folded into the one
-- handed over (one row, the events of all of them: acknowledged by the old
-- organisation, resolved by the new one), so a complaint is never counted
-- twice, nor for the organisation that only inherited it.  org_monthly,
-- org_stats, district_monthly, ksk_rating and komek-escalator read
-- task_times and so count by the day.  The rating's apartments are those
-- of the buildings the KSK was responsible for during the month.

-- Written so that the planner sees what it is: one row per attempt of
-- an_tasks less the few handover attempts folded into an earlier one (a
-- window over all attempts, joined back on its own output, was estimated
-- at a handful of rows, and ksk_rating and komek-escalator, planned on
-- that, ran for many minutes on the demo's city).
CREATE OR REPLACE VIEW task_times AS
WITH ho AS (
    -- handover attempts (few) and the attempt each continues: the latest
    -- earlier one that was not a handover (NULL: none, it stands alone)
    SELECT x.complaint_id, x.attempt,
           (SELECT max(h.attempt) FROM an_tasks h
             WHERE h.complaint_id = x.complaint_id AND h.attempt < x.attempt
               AND h.route_reason IS DISTINCT FROM 'rerouted:handover') AS head
    FROM an_tasks x WHERE x.route_reason = 'rerouted:handover'
)
SELECT t.complaint_id, t.attempt,
       coalesce(r.org_id, t.org_id) AS org_id, t.org_kind, t.building_id,
       t.district, t.category, t.route_reason, t.channel, t.received_at,
       t.day, t.routed_at, t.due_at,
       e.acknowledged_at, e.resolved_at, e.rejected_at,
       CASE WHEN e.rejected_at IS NOT NULL THEN 'rejected'
            WHEN e.resolved_at IS NOT NULL THEN 'resolved'
            WHEN e.acknowledged_at IS NOT NULL THEN 'acknowledged'
            ELSE 'open' END AS status,
       extract(epoch FROM e.acknowledged_at - t.received_at) / 3600.0 AS ack_hours,
       extract(epoch FROM e.resolved_at - t.received_at) / 3600.0 AS resolve_hours,
       (e.rejected_at IS NULL AND t.due_at < coalesce(e.resolved_at, now())) AS sla_breached,
       (e.rejected_at IS NULL AND e.resolved_at IS NULL AND t.due_at < now()) AS overdue,
       -- a later attempt that is not a handover ends the assignment
       NOT EXISTS (SELECT 1 FROM an_tasks t2 WHERE t2.complaint_id = t.complaint_id
                   AND t2.attempt > t.attempt
                   AND t2.route_reason IS DISTINCT FROM 'rerouted:handover') AS current,
       t.org_id AS routed_org_id,
       EXISTS (SELECT 1 FROM ho WHERE ho.complaint_id = t.complaint_id
               AND ho.head = t.attempt) AS handed_over
FROM an_tasks t
-- the events of the assignment: its own and its handover attempts'
LEFT JOIN (
    SELECT e.complaint_id, coalesce(ho.head, e.attempt) AS attempt,
           min(e.at) FILTER (WHERE e.event IN ('acknowledged', 'resolved')) AS acknowledged_at,
           min(e.at) FILTER (WHERE e.event = 'resolved') AS resolved_at,
           min(e.at) FILTER (WHERE e.event = 'rejected') AS rejected_at
    FROM an_task_events e
    LEFT JOIN ho ON ho.complaint_id = e.complaint_id AND ho.attempt = e.attempt
    GROUP BY 1, 2
) e ON e.complaint_id = t.complaint_id AND e.attempt = t.attempt
LEFT JOIN building_periods r
       ON r.building_id = t.building_id AND r.kind = t.org_kind
      AND r.valid_from <= t.received_at
      AND (r.valid_to IS NULL OR t.received_at < r.valid_to)
-- a handover attempt that continues an earlier one is folded into it
WHERE t.route_reason IS DISTINCT FROM 'rerouted:handover'
   OR NOT EXISTS (SELECT 1 FROM ho WHERE ho.complaint_id = t.complaint_id
                  AND ho.attempt = t.attempt AND ho.head IS NOT NULL);

-- The months of the tasks: about a year's worth, not one per day.  The
-- views below take them as date_trunc('month', day::timestamp)::date (the
-- same month as date_trunc('month', day)::date, but immutable, so it can
-- have statistics); without these the planner took a row per distinct day,
-- months x KSKs x periods grew to millions of estimated rows, and the
-- rating spent most of its time in JIT compilation.
CREATE STATISTICS an_tasks_month ON (date_trunc('month', day::timestamp)::date)
    FROM an_tasks;
ANALYZE an_tasks;

-- Apartments and buildings an organisation was responsible for in each
-- month (any day of it) of the tasks and votes.
CREATE VIEW org_apartments_monthly AS
WITH months AS (
    SELECT DISTINCT date_trunc('month', day::timestamp)::date AS month FROM an_tasks
    UNION SELECT DISTINCT month FROM an_votes
),
-- month start and end as instants: local (utc_offset_hours) midnights
bounds AS (
    SELECT m.month,
           (m.month::timestamp - make_interval(hours => p.utc_offset_hours::int))
               AT TIME ZONE 'UTC' AS t0,
           ((m.month + interval '1 month')::timestamp
               - make_interval(hours => p.utc_offset_hours::int)) AT TIME ZONE 'UTC' AS t1
    FROM months m, an_params p
)
SELECT m.month, h.org_id, h.kind,
       sum(b.apartments)::bigint AS apartments,
       count(DISTINCT b.id)::bigint AS buildings
FROM bounds m
JOIN building_periods h
  ON h.valid_from < m.t1 AND (h.valid_to IS NULL OR h.valid_to > m.t0)
JOIN buildings b ON b.id = h.building_id
GROUP BY 1, 2, 3;

DROP VIEW ksk_rating;
CREATE VIEW ksk_rating AS
WITH p AS (SELECT * FROM an_params),
ksk AS (
    SELECT org_id AS ksk_id, name, district
    FROM org_apartments WHERE kind = 'ksk'
    UNION
    SELECT DISTINCT t.org_id, NULL::text, NULL::text FROM an_tasks t
    WHERE t.org_kind = 'ksk' AND NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = t.org_id)
),
months AS (
    SELECT DISTINCT date_trunc('month', day::timestamp)::date AS month FROM an_tasks
    UNION SELECT DISTINCT month FROM an_votes
),
-- computed once (a join to the view was planned as a nested loop that
-- evaluated it per KSK and month)
ap AS MATERIALIZED (
    SELECT month, org_id, apartments FROM org_apartments_monthly WHERE kind = 'ksk'
),
kt AS (
    SELECT t.*, EXISTS (
               SELECT 1 FROM an_tasks r, p
               WHERE r.attempt = 1 AND r.building_id = t.building_id
                 AND r.category = t.category AND r.received_at < t.received_at
                 AND r.received_at >= t.received_at - make_interval(days => p.repeat_days::int)
           ) AS repeat,
           EXISTS (
               SELECT 1 FROM an_task_events e JOIN an_tasks x
                   ON x.complaint_id = e.complaint_id AND x.attempt = e.attempt
               WHERE e.complaint_id = t.complaint_id AND e.event = 'reopened'
                 AND x.attempt >= t.attempt
                 AND (x.attempt = t.attempt OR x.route_reason = 'rerouted:handover')
           ) AS disputed
    FROM task_times t
    WHERE t.org_kind = 'ksk' AND t.rejected_at IS NULL
),
tm AS (
    SELECT date_trunc('month', day::timestamp)::date AS month, org_id AS ksk_id,
           count(*) AS complaints,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_hours) AS resolve_median_h,
           count(*) FILTER (WHERE sla_breached) AS breaches,
           count(*) FILTER (WHERE repeat) AS repeats,
           count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolutions,
           count(*) FILTER (WHERE resolved_at IS NOT NULL AND disputed) AS disputes
    FROM kt GROUP BY 1, 2
),
base AS (
    SELECT m.month, k.ksk_id, k.name, k.district,
           coalesce(ap.apartments, 0) AS apartments,
           coalesce(tm.complaints, 0) AS complaints,
           CASE WHEN ap.apartments > 0
                THEN 100.0 * coalesce(tm.complaints, 0) / ap.apartments END AS per_100_apartments,
           tm.resolve_median_h,
           CASE WHEN tm.complaints > 0 THEN tm.breaches::float8 / tm.complaints END AS sla_breach_rate,
           CASE WHEN tm.complaints > 0 THEN tm.repeats::float8 / tm.complaints END AS repeat_rate,
           coalesce(tm.resolutions, 0) AS resolutions,
           coalesce(tm.disputes, 0) AS disputes,
           CASE WHEN tm.resolutions > 0 THEN tm.disputes::float8 / tm.resolutions END AS disputed_rate,
           coalesce(v.n, 0) AS votes,
           CASE WHEN v.n > 0 THEN v.score_sum::float8 / v.n END AS avg_vote,
           CASE WHEN coalesce(ap.apartments, 0) = 0 THEN 'no_apartments'
                WHEN coalesce(tm.complaints, 0) < p.min_complaints THEN 'few_complaints'
                WHEN coalesce(v.n, 0) < p.min_votes THEN 'few_votes' END AS unrated_reason
    FROM months m CROSS JOIN ksk k CROSS JOIN p
    LEFT JOIN ap ON ap.month = m.month AND ap.org_id = k.ksk_id
    LEFT JOIN tm ON tm.month = m.month AND tm.ksk_id = k.ksk_id
    LEFT JOIN an_vote_month v ON v.month = m.month AND v.ksk_id = k.ksk_id
),
scored AS (
    SELECT b.*,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY per_100_apartments)) AS s_complaints,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY resolve_median_h NULLS LAST)) AS s_resolution,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY sla_breach_rate)) AS s_sla,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY repeat_rate)) AS s_repeat,
           coalesce(100 * (avg_vote - 1) / 4, 50) AS s_votes,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY disputed_rate NULLS LAST)) AS s_disputed
    FROM base b WHERE unrated_reason IS NULL
),
final AS (
    SELECT s.*, round(((p.w_complaints * s_complaints + p.w_resolution * s_resolution
                  + p.w_sla * s_sla + p.w_repeat * s_repeat + p.w_votes * s_votes
                  + p.w_disputed * s_disputed)
                 / nullif(p.w_complaints + p.w_resolution + p.w_sla + p.w_repeat + p.w_votes
                          + p.w_disputed, 0))::numeric, 1) AS score
    FROM scored s, p
)
SELECT month, to_char(month, 'YYYY-MM') AS month_text, ksk_id, name, district,
       apartments, complaints, round(per_100_apartments::numeric, 2) AS per_100_apartments,
       round(resolve_median_h::numeric, 2) AS resolve_median_h,
       round(sla_breach_rate::numeric, 4) AS sla_breach_rate,
       round(repeat_rate::numeric, 4) AS repeat_rate, votes,
       round(avg_vote::numeric, 2) AS avg_vote,
       round(s_complaints::numeric, 1) AS s_complaints,
       round(s_resolution::numeric, 1) AS s_resolution,
       round(s_sla::numeric, 1) AS s_sla, round(s_repeat::numeric, 1) AS s_repeat,
       round(s_votes::numeric, 1) AS s_votes, score,
       rank() OVER (PARTITION BY month ORDER BY score DESC) AS rank_city,
       rank() OVER (PARTITION BY month, district ORDER BY score DESC) AS rank_district,
       true AS rated, NULL::text AS unrated_reason,
       resolutions, disputes, round(disputed_rate::numeric, 4) AS disputed_rate,
       round(s_disputed::numeric, 1) AS s_disputed
FROM final
UNION ALL
SELECT month, to_char(month, 'YYYY-MM'), ksk_id, name, district, apartments,
       complaints, round(per_100_apartments::numeric, 2),
       round(resolve_median_h::numeric, 2), round(sla_breach_rate::numeric, 4),
       round(repeat_rate::numeric, 4), votes, round(avg_vote::numeric, 2),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, unrated_reason,
       resolutions, disputes, round(disputed_rate::numeric, 4), NULL
FROM base WHERE unrated_reason IS NOT NULL;

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_analytics', 'building_orgs', 'SELECT', NULL),
    ('komek_analytics', 'org_apartments_monthly', 'SELECT', NULL),
    ('komek_analyst', 'org_apartments_monthly', 'SELECT', NULL);

SELECT komek_grant_roles();
