-- 106_rating_disputed.sql: the KSK rating gains "disputed resolutions"
-- (issue 16 part 2, docs/analytics.md): the share of the month's resolved
-- tasks that a resident disputed (a `reopened` task-event, komek-gateway's
-- POST /servicerequestupdates, docs/open311.md).  Components appended to
-- ksk_rating: resolutions, disputes, disputed_rate, s_disputed (by
-- position among the month's rated KSKs, ascending; no resolution ranks
-- last, as for the resolution time), weighted by rating_w_disputed
-- (analytics.rating_w_disputed, default 0.10).  The minimums still apply.
CREATE OR REPLACE VIEW an_params AS
SELECT coalesce(max(value) FILTER (WHERE key = 'utc_offset_hours'), 5)        AS utc_offset_hours,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_complaints'), 0.3)   AS w_complaints,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_resolution'), 0.2)   AS w_resolution,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_sla'), 0.2)          AS w_sla,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_repeat'), 0.1)       AS w_repeat,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_votes'), 0.2)        AS w_votes,
       coalesce(max(value) FILTER (WHERE key = 'rating_min_complaints'), 5)   AS min_complaints,
       coalesce(max(value) FILTER (WHERE key = 'rating_min_votes'), 5)        AS min_votes,
       coalesce(max(value) FILTER (WHERE key = 'rating_repeat_days'), 30)     AS repeat_days,
       coalesce(max(value) FILTER (WHERE key = 'rating_w_disputed'), 0.1)     AS w_disputed
FROM an_settings;

DROP VIEW ksk_rating;
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
           ) AS repeat,
           EXISTS (
               SELECT 1 FROM an_task_events e
               WHERE e.complaint_id = t.complaint_id AND e.attempt = t.attempt
                 AND e.event = 'reopened'
           ) AS disputed
    FROM task_times t
    WHERE t.org_kind = 'ksk' AND t.rejected_at IS NULL
),
tm AS (
    SELECT date_trunc('month', day)::date AS month, org_id AS ksk_id,
           count(*) AS complaints,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY resolve_hours) AS resolve_median_h,
           count(*) FILTER (WHERE sla_breached) AS breaches,
           count(*) FILTER (WHERE repeat) AS repeats,
           count(*) FILTER (WHERE resolved_at IS NOT NULL) AS resolutions,
           count(*) FILTER (WHERE resolved_at IS NOT NULL AND disputed) AS disputes
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
           coalesce(tm.resolutions, 0) AS resolutions,
           coalesce(tm.disputes, 0) AS disputes,
           CASE WHEN tm.resolutions > 0 THEN tm.disputes::float8 / tm.resolutions END AS disputed_rate,
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

SELECT komek_grant_roles();
