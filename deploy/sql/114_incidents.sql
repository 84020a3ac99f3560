-- 114_incidents.sql: incidents (issue 16 part 3, docs/incidents.md).
--
-- An incident is a set of one organisation's tasks of one category that
-- one outage explains: complaints from several buildings of one street
-- (or, for a building without a street, of one grid cell), or several
-- complaints from one building, each within window_s of the previous one.
-- It is not stored: the views below compute it from `tasks` and
-- `buildings` alone, so the same stored tasks give the same incidents
-- however many routers and task sinks wrote them, in whatever order, and
-- after any restart (a task is one row per complaint, idempotent on
-- complaint_id).  Nothing in a consumer's memory takes part.
--
-- Definition, for the tasks of one (org_id, category) that have a
-- building, are not rejected and were received at most horizon_days
-- before the organisation's latest task (a bound on the work, from the
-- stored tasks alone, not from the clock), in (received_at,
-- complaint_id) order:
--   area      'street:<district>:<street_key>' when the building has a
--             street, else 'cell:<i>:<j>' (a cell_m x cell_m square of its
--             coordinates), else the building alone;
--   island    the tasks of one area (or one building) where each follows
--             the previous by at most window_s (a gap over window_s
--             starts a new island);
--   incident  an area island with at least min_buildings distinct
--             buildings (scope 'street' or 'cell'); else, inside it, a
--             building island with at least min_complaints tasks (scope
--             'building').  A building island lies inside one area island
--             (its gaps can only be larger), so a task is in one incident
--             at most.
--   incident_id  a UUID (version 3 layout) of md5("komek-incident\n"
--             org | category | scope key | the first task's complaint_id):
--             the same while the incident's first task stays first.
--   open      while at least one of its tasks is open, acknowledged or
--             reopened.
-- Resolving an incident (km_incident_resolve, common/km_incident.c)
-- resolves each open task through km_task_apply: the task's own change
-- (task_lock/task_change, 097/105) and its own task-events message.

CREATE TABLE incident_settings (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    window_s       integer NOT NULL DEFAULT 7200
                   CHECK (window_s BETWEEN 60 AND 7 * 86400),
    min_buildings  integer NOT NULL DEFAULT 3 CHECK (min_buildings >= 2),
    min_complaints integer NOT NULL DEFAULT 3 CHECK (min_complaints >= 2),
    cell_m         integer NOT NULL DEFAULT 500
                   CHECK (cell_m BETWEEN 50 AND 10000),
    horizon_days   integer NOT NULL DEFAULT 30
                   CHECK (horizon_days BETWEEN 1 AND 3660)
);
INSERT INTO incident_settings DEFAULT VALUES;

-- Every window below is partitioned by org_id first, so a query for one
-- organisation's incidents (the inboxes) computes only that
-- organisation's tasks, found through this index.
CREATE INDEX tasks_org_received ON tasks (org_id, received_at);
CREATE VIEW incident_tasks AS
SELECT f.incident_id, f.complaint_id, f.org_id, f.category, f.scope,
       f.scope_key, f.building_id, f.received_at, f.status
FROM (
    SELECT e.*,
           CASE WHEN e.area_scope <> 'building'
                     AND e.area_buildings >= e.min_buildings THEN e.area_scope
                WHEN e.building_tasks >= e.min_complaints THEN 'building'
           END AS scope,
           CASE WHEN e.area_scope <> 'building'
                     AND e.area_buildings >= e.min_buildings THEN e.area
                ELSE e.building_id
           END AS scope_key,
           CASE WHEN e.area_scope <> 'building'
                     AND e.area_buildings >= e.min_buildings THEN
                overlay(overlay(md5('komek-incident' || E'\n' || e.org_id
                    || '|' || e.category || '|' || e.area || '|'
                    || e.area_first) placing '3' from 13) placing '8' from 17)::uuid
                WHEN e.building_tasks >= e.min_complaints THEN
                overlay(overlay(md5('komek-incident' || E'\n' || e.org_id
                    || '|' || e.category || '|building:' || e.building_id
                    || '|' || e.building_first) placing '3' from 13)
                    placing '8' from 17)::uuid
           END AS incident_id
    FROM (
        SELECT d.*,
               sum(d.first_in_area) OVER wa AS area_buildings,
               count(*) OVER wb AS building_tasks,
               first_value(d.complaint_id::text) OVER (wa ORDER BY
                   d.received_at, d.complaint_id) AS area_first,
               first_value(d.complaint_id::text) OVER (wb ORDER BY
                   d.received_at, d.complaint_id) AS building_first
        FROM (
            SELECT c.*,
                   CASE WHEN row_number() OVER (PARTITION BY c.org_id,
                        c.category, c.area, c.area_island, c.building_id
                        ORDER BY c.received_at, c.complaint_id) = 1
                        THEN 1 ELSE 0 END AS first_in_area
            FROM (
                SELECT b.*,
                       sum(b.area_break) OVER (PARTITION BY b.org_id,
                           b.category, b.area ORDER BY b.received_at,
                           b.complaint_id ROWS UNBOUNDED PRECEDING)
                           AS area_island,
                       sum(b.building_break) OVER (PARTITION BY b.org_id,
                           b.category, b.building_id ORDER BY b.received_at,
                           b.complaint_id ROWS UNBOUNDED PRECEDING)
                           AS building_island
                FROM (
                    SELECT a.*,
                           CASE WHEN a.received_at - lag(a.received_at) OVER
                                (PARTITION BY a.org_id, a.category, a.area
                                 ORDER BY a.received_at, a.complaint_id)
                                > make_interval(secs => a.window_s)
                                THEN 1 ELSE 0 END AS area_break,
                           CASE WHEN a.received_at - lag(a.received_at) OVER
                                (PARTITION BY a.org_id, a.category,
                                 a.building_id ORDER BY a.received_at,
                                 a.complaint_id)
                                > make_interval(secs => a.window_s)
                                THEN 1 ELSE 0 END AS building_break
                    FROM (
                        SELECT t.complaint_id, t.org_id, t.category,
                               t.building_id, t.received_at, t.status,
                               s.window_s, s.min_buildings, s.min_complaints,
                               CASE WHEN coalesce(bl.street_key, '') <> ''
                                    THEN 'street'
                                    WHEN bl.lat IS NOT NULL
                                         AND bl.long IS NOT NULL THEN 'cell'
                                    ELSE 'building' END AS area_scope,
                               CASE WHEN coalesce(bl.street_key, '') <> ''
                                    THEN 'street:' || bl.district || ':'
                                         || bl.street_key
                                    WHEN bl.lat IS NOT NULL
                                         AND bl.long IS NOT NULL THEN
                                    'cell:' || floor(bl.lat * 111320.0
                                        / s.cell_m)::bigint || ':'
                                    || floor(bl.long * 111320.0
                                        * cos(radians(floor(bl.lat)))
                                        / s.cell_m)::bigint
                                    ELSE 'building:' || t.building_id
                               END AS area
                        -- one row; LIMIT 1 tells the planner so (else it
                        -- guesses a thousand rows, multiplies every cost
                        -- and JIT-compiles the plan for seconds)
                        FROM (SELECT * FROM incident_settings LIMIT 1) s
                        -- each organisation's latest task, then only its
                        -- tasks of the horizon before it: a range of the
                        -- index (org_id, received_at), not every task
                        -- (a window max() over all of them read the whole
                        -- table through the index for the city-wide list)
                        CROSS JOIN (SELECT m.org_id, max(m.received_at)
                                        AS latest
                                    FROM tasks m
                                    WHERE m.building_id IS NOT NULL
                                      AND m.status <> 'rejected'
                                    GROUP BY m.org_id) l
                        JOIN tasks t ON t.org_id = l.org_id
                         AND t.received_at >= l.latest
                             - make_interval(days => s.horizon_days)
                        LEFT JOIN buildings bl ON bl.id = t.building_id
                        WHERE t.building_id IS NOT NULL
                          AND t.status <> 'rejected'
                    ) a
                ) b
            ) c
        ) d
        WINDOW wa AS (PARTITION BY d.org_id, d.category, d.area,
                      d.area_island),
               wb AS (PARTITION BY d.org_id, d.category, d.building_id,
                      d.building_island)
    ) e
) f
WHERE f.incident_id IS NOT NULL;

-- One row per incident.  label: the street (with the district) or the
-- building's address as the directory has it; never a resident's text.
CREATE VIEW incidents AS
SELECT it.incident_id, it.org_id, it.category, it.scope, it.scope_key,
       CASE it.scope
            WHEN 'street' THEN min(bl.street) || ' (' || min(bl.district) || ')'
            WHEN 'building' THEN min(bl.street || ' ' || bl.house)
            ELSE it.scope_key END AS label,
       count(*) AS tasks,
       count(*) FILTER (WHERE it.status IN ('open', 'acknowledged',
                                            'reopened')) AS open_tasks,
       count(DISTINCT it.building_id) AS buildings,
       min(it.received_at) AS first_at,
       max(it.received_at) AS last_at,
       CASE WHEN bool_or(it.status IN ('open', 'acknowledged', 'reopened'))
            THEN 'open' ELSE 'resolved' END AS status
FROM incident_tasks it
LEFT JOIN buildings bl ON bl.id = it.building_id
GROUP BY it.incident_id, it.org_id, it.category, it.scope, it.scope_key;

-- A systemic escalation links to the incident of its complaints
-- (komek-escalator, docs/messages.md `escalations`).
ALTER TABLE escalations ADD COLUMN incident_id uuid;

-- Who reads incidents: the staff (komek-web's inbox, komek-inbox), the
-- analysts (the dashboard), the escalator (komek_analytics, to link a
-- systemic escalation).  The views run as their owner: a reader sees the
-- incident's ids, category, building and times, not tasks' other columns
-- (the analytics role has no SELECT on tasks at all).  Nobody but the
-- owner changes incident_settings.
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_web', 'incidents', 'SELECT', NULL),
    ('komek_web', 'incident_tasks', 'SELECT', NULL),
    ('komek_inbox', 'incidents', 'SELECT', NULL),
    ('komek_inbox', 'incident_tasks', 'SELECT', NULL),
    ('komek_analyst', 'incidents', 'SELECT', NULL),
    ('komek_analyst', 'incident_tasks', 'SELECT', NULL),
    ('komek_analyst', 'incident_settings', 'SELECT', NULL),
    ('komek_analytics', 'incident_tasks', 'SELECT', NULL)
ON CONFLICT DO NOTHING;
SELECT komek_grant_roles();
