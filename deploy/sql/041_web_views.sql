-- 041_web_views.sql: day-level series for komek-web's dashboard, read by
-- the analyst role.  The analytics views (031) are weekly and run "since 1
-- January" to the last day; the dashboard filters by category and
-- district and sums any week's days itself, so it reads these two views
-- of the analytics aggregates (030) instead of the tables, which the
-- analyst may not read.

-- Complaints per local day x category (all channels; from `complaints`).
CREATE VIEW web_complaints_daily AS
SELECT day, category, sum(n)::bigint AS n
FROM an_daily GROUP BY day, category;

-- Routed complaints (first attempt) per local day x category x district
-- (NULL: not matched, sent to triage; from `dispatch`).
CREATE VIEW web_routed_daily AS
SELECT day, category, nullif(district, '') AS district, n
FROM an_daily_district;
