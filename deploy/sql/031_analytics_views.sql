-- 031_analytics_views.sql: what an analyst queries by name (README and
-- docs/analytics.md show an example query for each).  Views read the facts
-- and aggregates of 030 and the directory (organisations, buildings) of
-- the routing migrations; "now" (open, overdue, breach of an open task)
-- is the database's now().

-- The settings as one row.
CREATE VIEW an_params AS
SELECT coalesce(max(value) FILTER (WHERE key = 'utc_offset_hours'), 5)        AS utc_offset_hours,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_complaints'), 0.3)   AS w_complaints,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_resolution'), 0.2)   AS w_resolution,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_sla'), 0.2)          AS w_sla,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_repeat'), 0.1)       AS w_repeat,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_votes'), 0.2)        AS w_votes,
       coalesce(max(value) FILTER (WHERE key = 'rating_min_complaints'), 5)   AS min_complaints,
       coalesce(max(value) FILTER (WHERE key = 'rating_min_votes'), 5)        AS min_votes,
       coalesce(max(value) FILTER (WHERE key = 'rating_repeat_days'), 30)     AS repeat_days
FROM an_settings;

-- Complaints per ISO week x category (all districts), with the previous
-- week and the week-over-week change in percent (NULL when the previous
-- week had none).  Weeks without complaints are listed with 0.
CREATE VIEW complaints_weekly AS
WITH w AS (
    SELECT date_trunc('week', day)::date AS week_start, category, sum(n) AS n
    FROM an_daily GROUP BY 1, 2
), cats AS (
    SELECT code AS category FROM categories
    UNION SELECT DISTINCT category FROM an_daily
), grid AS (
    SELECT gs::date AS week_start, c.category
    FROM (SELECT min(week_start) AS lo, max(week_start) AS hi FROM w) b,
         generate_series(b.lo, b.hi, interval '7 days') gs, cats c
)
SELECT g.week_start, to_char(g.week_start, 'IYYY-"W"IW') AS iso_week,
       g.category, coalesce(w.n, 0)::bigint AS n,
       coalesce(p.n, 0)::bigint AS prev_n,
       CASE WHEN coalesce(p.n, 0) = 0 THEN NULL
            ELSE round(100.0 * (coalesce(w.n, 0) - p.n) / p.n, 1) END AS wow_pct
FROM grid g
LEFT JOIN w ON w.week_start = g.week_start AND w.category = g.category
LEFT JOIN w p ON p.week_start = g.week_start - 7 AND p.category = g.category;

-- All complaints per ISO week, with the previous week and the change.
CREATE VIEW complaints_weekly_total AS
SELECT week_start, iso_week, sum(n)::bigint AS n, sum(prev_n)::bigint AS prev_n,
       CASE WHEN sum(prev_n) = 0 THEN NULL
            ELSE round(100.0 * (sum(n) - sum(prev_n)) / sum(prev_n), 1) END AS wow_pct
FROM complaints_weekly GROUP BY week_start, iso_week;

-- Routed complaints per ISO week x category x district (district of the
-- building the router matched; NULL: not matched, sent to triage).
CREATE VIEW complaints_weekly_district AS
WITH w AS (
    SELECT date_trunc('week', day)::date AS week_start, category, district,
           sum(n) AS n
    FROM an_daily_district GROUP BY 1, 2, 3
), keys AS (
    SELECT DISTINCT category, district FROM w
), grid AS (
    SELECT gs::date AS week_start, k.category, k.district
    FROM (SELECT min(week_start) AS lo, max(week_start) AS hi FROM w) b,
         generate_series(b.lo, b.hi, interval '7 days') gs, keys k
)
SELECT g.week_start, to_char(g.week_start, 'IYYY-"W"IW') AS iso_week,
       g.category, nullif(g.district, '') AS district,
       coalesce(w.n, 0)::bigint AS n, coalesce(p.n, 0)::bigint AS prev_n,
       CASE WHEN coalesce(p.n, 0) = 0 THEN NULL
            ELSE round(100.0 * (coalesce(w.n, 0) - p.n) / p.n, 1) END AS wow_pct
FROM grid g
LEFT JOIN w ON w.week_start = g.week_start AND w.category = g.category
           AND w.district = g.district
LEFT JOIN w p ON p.week_start = g.week_start - 7 AND p.category = g.category
           AND p.district = g.district;

-- Channels' share per ISO week.
CREATE VIEW channels_weekly AS
WITH w AS (
    SELECT date_trunc('week', day)::date AS week_start, channel, sum(n) AS n
    FROM an_daily GROUP BY 1, 2
)
SELECT week_start, to_char(week_start, 'IYYY-"W"IW') AS iso_week, channel,
       n::bigint AS n,
       round(100.0 * n / sum(n) OVER (PARTITION BY week_start), 1) AS share_pct
FROM w;

-- Complaints since 1 January per year x category, with the line (the kind
-- of organisation that handles the category: ksk = housing, lift_operator
-- = lifts).
CREATE VIEW complaints_ytd AS
SELECT extract(year FROM d.day)::int AS year, d.category,
       coalesce(c.kind, 'unknown') AS line, sum(d.n)::bigint AS n,
       max(d.day) AS last_day
FROM an_daily d LEFT JOIN categories c ON c.code = d.category
GROUP BY 1, 2, 3;

-- Every task with its times, status and SLA state.  acknowledged_at is the
-- first acknowledged or resolved event (resolving acknowledges).
-- sla_breached: not rejected and not resolved by due_at (resolved late, or
-- still open past due_at).  current: the latest attempt of the complaint.
CREATE VIEW task_times AS
SELECT t.complaint_id, t.attempt, t.org_id, t.org_kind, t.building_id,
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
       NOT EXISTS (SELECT 1 FROM an_tasks t2 WHERE t2.complaint_id = t.complaint_id
                   AND t2.attempt > t.attempt) AS current
FROM an_tasks t
LEFT JOIN (
    SELECT complaint_id, attempt,
           min(at) FILTER (WHERE event IN ('acknowledged', 'resolved')) AS acknowledged_at,
           min(at) FILTER (WHERE event = 'resolved') AS resolved_at,
           min(at) FILTER (WHERE event = 'rejected') AS rejected_at
    FROM an_task_events GROUP BY 1, 2
) e ON e.complaint_id = t.complaint_id AND e.attempt = t.attempt;

-- Apartments and buildings each organisation serves (KSK: buildings.ksk_id,
-- lift operator: buildings.lift_operator_id).
CREATE VIEW org_apartments AS
SELECT o.id AS org_id, o.kind, o.name, o.district,
       coalesce(a.apartments, 0)::bigint AS apartments,
       coalesce(a.buildings, 0)::bigint AS buildings
FROM organisations o
LEFT JOIN (
    SELECT ksk_id AS org_id, sum(apartments) AS apartments, count(*) AS buildings
    FROM buildings WHERE ksk_id IS NOT NULL GROUP BY 1
    UNION ALL
    SELECT lift_operator_id, sum(apartments), count(*)
    FROM buildings WHERE lift_operator_id IS NOT NULL GROUP BY 1
) a ON a.org_id = o.id;

-- Per organisation and month (local month of received_at): complaints
-- (tasks not rejected by it), per 100 apartments, median and p90 hours to
-- acknowledge and to resolve, SLA breaches, rejected, open and overdue now.
CREATE VIEW org_monthly AS
SELECT date_trunc('month', t.day)::date AS month, t.org_id,
       coalesce(a.kind, min(t.org_kind)) AS kind, a.name, a.district,
       coalesce(a.apartments, 0) AS apartments,
       count(*) FILTER (WHERE t.rejected_at IS NULL) AS complaints,
       CASE WHEN a.apartments > 0 THEN round(100.0 * count(*) FILTER
            (WHERE t.rejected_at IS NULL) / a.apartments, 2) END AS per_100_apartments,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_p90_h,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_p90_h,
       count(*) FILTER (WHERE t.sla_breached) AS sla_breaches,
       count(*) FILTER (WHERE t.rejected_at IS NOT NULL) AS rejected,
       count(*) FILTER (WHERE t.status IN ('open', 'acknowledged')) AS open,
       count(*) FILTER (WHERE t.overdue) AS overdue
FROM task_times t LEFT JOIN org_apartments a ON a.org_id = t.org_id
GROUP BY 1, 2, a.kind, a.name, a.district, a.apartments;

-- The same over all time.
CREATE VIEW org_stats AS
SELECT t.org_id, coalesce(a.kind, min(t.org_kind)) AS kind, a.name, a.district,
       coalesce(a.apartments, 0) AS apartments,
       count(*) FILTER (WHERE t.rejected_at IS NULL) AS complaints,
       CASE WHEN a.apartments > 0 THEN round(100.0 * count(*) FILTER
            (WHERE t.rejected_at IS NULL) / a.apartments, 2) END AS per_100_apartments,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_p90_h,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_p90_h,
       count(*) FILTER (WHERE t.sla_breached) AS sla_breaches,
       count(*) FILTER (WHERE t.rejected_at IS NOT NULL) AS rejected,
       count(*) FILTER (WHERE t.status IN ('open', 'acknowledged')) AS open,
       count(*) FILTER (WHERE t.overdue) AS overdue
FROM task_times t LEFT JOIN org_apartments a ON a.org_id = t.org_id
GROUP BY t.org_id, a.kind, a.name, a.district, a.apartments;

-- Per district and month: the current task of each complaint (one per
-- complaint), by the district of its building.
CREATE VIEW district_monthly AS
WITH apts AS (
    SELECT district, sum(apartments)::bigint AS apartments FROM buildings GROUP BY 1
)
SELECT date_trunc('month', t.day)::date AS month, t.district,
       coalesce(a.apartments, 0) AS apartments,
       count(*) AS complaints,
       CASE WHEN a.apartments > 0 THEN round(100.0 * count(*) / a.apartments, 2) END AS per_100_apartments,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.ack_hours)::numeric, 2) AS ack_p90_h,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_median_h,
       round(percentile_cont(0.9) WITHIN GROUP (ORDER BY t.resolve_hours)::numeric, 2) AS resolve_p90_h,
       count(*) FILTER (WHERE t.sla_breached) AS sla_breaches,
       count(*) FILTER (WHERE t.status IN ('open', 'acknowledged')) AS open,
       count(*) FILTER (WHERE t.overdue) AS overdue
FROM task_times t LEFT JOIN apts a ON a.district = t.district
WHERE t.current
GROUP BY 1, 2, a.apartments;

-- KSK rating per month.  Components (each visible):
--   per_100_apartments  complaints (tasks not rejected) per 100 apartments
--   resolve_median_h    median hours from receipt to resolution
--   sla_breach_rate     share of the month's tasks that breached the SLA
--   repeat_rate         share whose building+category had a complaint in
--                       the rating_repeat_days before
--   avg_vote            residents' mean score (1..5)
-- Scores 0..100 (higher is better): the first four by position among the
-- month's rated KSKs, 100 * (1 - percent_rank) ascending (no resolution
-- yet ranks last); votes as 100 * (avg_vote - 1) / 4.  score = the
-- weighted mean with the rating_w_* weights.  A KSK with fewer complaints
-- than rating_min_complaints or fewer votes than rating_min_votes in the
-- month, or without apartments in the directory, is unrated: listed with
-- its components and unrated_reason, no score, no rank.
CREATE VIEW ksk_rating AS
WITH p AS (SELECT * FROM an_params),
ksk AS (
    SELECT org_id AS ksk_id, name, district, apartments
    FROM org_apartments WHERE kind = 'ksk'
    UNION
    SELECT DISTINCT t.org_id, NULL::text, NULL::text, 0::bigint FROM an_tasks t
    WHERE t.org_kind = 'ksk' AND NOT EXISTS (SELECT 1 FROM organisations o WHERE o.id = t.org_id)
),
months AS (
    SELECT DISTINCT date_trunc('month', day)::date AS month FROM an_tasks
    UNION SELECT DISTINCT month FROM an_votes
),
kt AS (
    SELECT t.*, EXISTS (
               SELECT 1 FROM an_tasks r, p
               WHERE r.attempt = 1 AND r.building_id = t.building_id
                 AND r.category = t.category AND r.received_at < t.received_at
                 AND r.received_at >= t.received_at - make_interval(days => p.repeat_days::int)
           ) AS repeat
    FROM task_times t
    WHERE t.org_kind = 'ksk' AND t.rejected_at IS NULL
),
tm AS (
    SELECT date_trunc('month', day)::date AS month, org_id AS ksk_id,
           count(*) AS complaints,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_hours) AS resolve_median_h,
           count(*) FILTER (WHERE sla_breached) AS breaches,
           count(*) FILTER (WHERE repeat) AS repeats
    FROM kt GROUP BY 1, 2
),
base AS (
    SELECT m.month, k.ksk_id, k.name, k.district, k.apartments,
           coalesce(tm.complaints, 0) AS complaints,
           CASE WHEN k.apartments > 0
                THEN 100.0 * coalesce(tm.complaints, 0) / k.apartments END AS per_100_apartments,
           tm.resolve_median_h,
           CASE WHEN tm.complaints > 0 THEN tm.breaches::float8 / tm.complaints END AS sla_breach_rate,
           CASE WHEN tm.complaints > 0 THEN tm.repeats::float8 / tm.complaints END AS repeat_rate,
           coalesce(v.n, 0) AS votes,
           CASE WHEN v.n > 0 THEN v.score_sum::float8 / v.n END AS avg_vote,
           CASE WHEN k.apartments = 0 THEN 'no_apartments'
                WHEN coalesce(tm.complaints, 0) < p.min_complaints THEN 'few_complaints'
                WHEN coalesce(v.n, 0) < p.min_votes THEN 'few_votes' END AS unrated_reason
    FROM months m CROSS JOIN ksk k CROSS JOIN p
    LEFT JOIN tm ON tm.month = m.month AND tm.ksk_id = k.ksk_id
    LEFT JOIN an_vote_month v ON v.month = m.month AND v.ksk_id = k.ksk_id
),
scored AS (
    SELECT b.*,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY per_100_apartments)) AS s_complaints,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY resolve_median_h NULLS LAST)) AS s_resolution,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY sla_breach_rate)) AS s_sla,
           100 * (1 - percent_rank() OVER (PARTITION BY month ORDER BY repeat_rate)) AS s_repeat,
           coalesce(100 * (avg_vote - 1) / 4, 50) AS s_votes
    FROM base b WHERE unrated_reason IS NULL
),
final AS (
    SELECT s.*, round(((p.w_complaints * s_complaints + p.w_resolution * s_resolution
                  + p.w_sla * s_sla + p.w_repeat * s_repeat + p.w_votes * s_votes)
                 / nullif(p.w_complaints + p.w_resolution + p.w_sla + p.w_repeat + p.w_votes, 0))::numeric, 1) AS score
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
       true AS rated, NULL::text AS unrated_reason
FROM final
UNION ALL
SELECT month, to_char(month, 'YYYY-MM'), ksk_id, name, district, apartments,
       complaints, round(per_100_apartments::numeric, 2),
       round(resolve_median_h::numeric, 2), round(sla_breach_rate::numeric, 4),
       round(repeat_rate::numeric, 4), votes, round(avg_vote::numeric, 2),
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, unrated_reason
FROM base WHERE unrated_reason IS NOT NULL;
