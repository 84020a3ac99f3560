-- 105_task_reopen.sql: residents answer a resolution (issues 16 and 21,
-- docs/open311.md "Updates from the resident").
--
-- An integration posts the resident's update with POST
-- /servicerequestupdates; komek-gateway applies it through km_task_apply
-- (common/km_task.c), the one path of every task state change:
--   reopened   a dispute of a resolution within gateway.reopen_days: the
--              task is open again at the same organisation, first in the
--              inboxes, its SLA clock restarted (due_at from now);
--   confirmed  the resident confirms the resolution (recorded, the task
--              stays resolved);
--   commented  a comment: the task's history and both inboxes, no state
--              change.
-- Each is one task_outbox row (topic task_events): the inbox history, the
-- task-events message.  The resident's name and e-mail are not stored.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
    CHECK (status IN ('open', 'acknowledged', 'resolved', 'rejected',
                      'reopened'));
ALTER TABLE tasks
    ADD COLUMN reopened_at  timestamptz,   -- the latest dispute
    ADD COLUMN confirmed_at timestamptz;   -- the resident confirmed the fix

-- the open-task indexes cover a reopened task
DROP INDEX tasks_org_open;
CREATE INDEX tasks_org_open ON tasks (org_id, received_at)
    WHERE status IN ('open', 'acknowledged', 'reopened');
DROP INDEX tasks_due;
CREATE INDEX tasks_due ON tasks (due_at)
    WHERE status IN ('open', 'acknowledged', 'reopened');

-- analytics keeps every task event; the views count what they name
ALTER TABLE an_task_events DROP CONSTRAINT an_task_events_event_check;
ALTER TABLE an_task_events ADD CONSTRAINT an_task_events_event_check
    CHECK (event IN ('acknowledged', 'resolved', 'rejected', 'reopened',
                     'confirmed', 'commented'));

-- Staff work a reopened task as an open one: task_change (097) learns
-- the state (ack from open or reopened; resolve or reject from open,
-- acknowledged or reopened).
CREATE OR REPLACE FUNCTION task_change(p_complaint uuid, p_org text,
                                       p_event text, p_at bigint,
                                       p_note text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_at timestamptz := coalesce(to_timestamp(p_at), now());
BEGIN
    IF p_at IS NOT NULL AND p_at > extract(epoch FROM now())::bigint + 300 THEN
        RETURN false;
    END IF;
    IF p_event = 'acknowledged' THEN
        UPDATE tasks t SET status = 'acknowledged', acknowledged_at = v_at,
                           updated_at = v_at
         WHERE t.complaint_id = p_complaint AND t.org_id = p_org
           AND t.status IN ('open', 'reopened')
           AND (p_at IS NULL OR p_at >= extract(epoch FROM t.received_at)::bigint);
    ELSIF p_event IN ('resolved', 'rejected') AND coalesce(p_note, '') <> '' THEN
        UPDATE tasks t SET status = p_event, status_note = p_note,
                           resolved_at = CASE WHEN p_event = 'resolved'
                                              THEN v_at ELSE t.resolved_at END,
                           updated_at = v_at
         WHERE t.complaint_id = p_complaint AND t.org_id = p_org
           AND t.status IN ('open', 'acknowledged', 'reopened')
           AND (p_at IS NULL OR p_at >= extract(epoch FROM
                greatest(t.received_at, t.acknowledged_at))::bigint);
    ELSE
        RETURN false;
    END IF;
    RETURN FOUND;
END
$$;

-- The resident's change (komek-gateway, km_task_apply with org_id NULL):
-- the task whoever holds it, never its complaint or contact.
--   task_resident_lock(complaint)   locks it (FOR UPDATE): status,
--                                   attempt, holder, category, seconds
--                                   since its resolution (0: none);
--   task_resident_change(complaint, event, window_s, sla_hours)
--                                   reopened: from resolved within
--                                   window_s (at most 365 days), due_at =
--                                   now + sla_hours (1..8760); confirmed:
--                                   from resolved; commented: no change;
--                                   @returns false and changes nothing
--                                   else.
CREATE FUNCTION task_resident_lock(p_complaint uuid)
RETURNS TABLE (status text, attempt integer, org_id text, category text,
               resolved_age bigint)
LANGUAGE sql SECURITY DEFINER AS $$
    SELECT t.status, t.attempt, t.org_id, t.category,
           coalesce(extract(epoch FROM now() - t.resolved_at)::bigint, 0)
      FROM tasks t
     WHERE t.complaint_id = p_complaint
       FOR UPDATE
$$;

CREATE FUNCTION task_resident_change(p_complaint uuid, p_event text,
                                     p_window bigint, p_sla_hours integer)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF p_event = 'reopened' AND p_window BETWEEN 0 AND 365 * 86400
       AND p_sla_hours BETWEEN 1 AND 8760 THEN
        UPDATE tasks t SET status = 'reopened', reopened_at = now(),
                           due_at = now() + make_interval(hours => p_sla_hours),
                           status_note = NULL, confirmed_at = NULL,
                           updated_at = now()
         WHERE t.complaint_id = p_complaint AND t.status = 'resolved'
           AND t.resolved_at >= now() - make_interval(secs => p_window);
    ELSIF p_event = 'confirmed' THEN
        UPDATE tasks t SET confirmed_at = now()
         WHERE t.complaint_id = p_complaint AND t.status = 'resolved';
    ELSIF p_event = 'commented' THEN
        PERFORM 1 FROM tasks t WHERE t.complaint_id = p_complaint;
    ELSE
        RETURN false;
    END IF;
    RETURN FOUND;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION task_change(uuid, text, text, bigint, text) '
                   'SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION task_resident_lock(uuid) '
                   'SET search_path = %I, pg_temp', current_schema());
    EXECUTE format('ALTER FUNCTION task_resident_change(uuid, text, bigint, '
                   'integer) SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION task_resident_lock(uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION task_resident_change(uuid, text, bigint, integer)
    FROM PUBLIC;

-- The gateway applies the resident's update through those two functions
-- (no UPDATE on tasks), queues the task-events message in task_outbox and
-- publishes the rows it wrote (komek-tasksink relays what it could not).
UPDATE role_grants
   SET columns = 'event_id, topic, msg_key, payload, complaint_id, attempt, '
                 'org_id, event, note, created_at, published_at'
 WHERE role = 'komek_intake' AND object = 'task_outbox'
   AND privileges = 'SELECT';
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_intake', 'task_outbox', 'INSERT', NULL),
    ('komek_intake', 'task_outbox', 'UPDATE', 'published_at'),
    ('komek_intake', 'task_resident_lock', 'EXECUTE', NULL),
    ('komek_intake', 'task_resident_change', 'EXECUTE', NULL)
ON CONFLICT DO NOTHING;
SELECT komek_grant_roles();
