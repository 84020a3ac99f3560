-- 117_task_times_lookup.sql: task_times finds the organisation responsible
-- when a complaint arrived by two index lookups per task (issue 13).
--
-- 108 joined building_periods (107), a UNION ALL whose second part
-- (buildings with no period of a kind) is a join of its own: the planner
-- cannot push the task's building into it, so under a nested loop it was
-- computed whole once per task.  Planned that way on freshly loaded
-- tables (a row estimate of 1 after the filters on the events), the SLA
-- check of komek-escalator took 91 s over 4,910 tasks in test_findings,
-- the inefficient-KSK check 16 s and ksk_rating 16 s.  The same two
-- parts, written per task (LATERAL) with the building and kind inside,
-- are an index scan of building_orgs and one of buildings whatever the
-- plan around them.  Columns, rows and meaning stay as in 108.
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
-- the organisation responsible when the complaint arrived: building_periods
-- (107) for this one task, so that each part is an index lookup
LEFT JOIN LATERAL (
    SELECT h.org_id FROM building_orgs h
     WHERE h.building_id = t.building_id AND h.kind = t.org_kind
       AND h.valid_from <= t.received_at
       AND (h.valid_to IS NULL OR t.received_at < h.valid_to)
    UNION ALL
    SELECT CASE t.org_kind WHEN 'ksk' THEN b.ksk_id ELSE b.lift_operator_id END
      FROM buildings b
     WHERE b.id = t.building_id AND t.org_kind IN ('ksk', 'lift_operator')
       AND CASE t.org_kind WHEN 'ksk' THEN b.ksk_id ELSE b.lift_operator_id END IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM building_orgs h WHERE h.building_id = b.id
                       AND h.kind = t.org_kind)
) r ON true
-- a handover attempt that continues an earlier one is folded into it
WHERE t.route_reason IS DISTINCT FROM 'rerouted:handover'
   OR NOT EXISTS (SELECT 1 FROM ho WHERE ho.complaint_id = t.complaint_id
                  AND ho.attempt = t.attempt AND ho.head IS NOT NULL);
