-- 111_notify_task_events.sql: komek-notify reads task-events (issue 22),
-- and the web inbox shows an organisation its undelivered notifications.
--
-- A task acknowledged, resolved or rejected makes some pending
-- notifications pointless (docs/notify.md "When the task moves on"):
--   - its SLA warning (any channel): the task is no longer open;
--   - its new-task / re-route e-mail (a digest slot, or a retry): the
--     staff have it.  A webhook's task.new / task.rerouted still goes: the
--     organisation's own system keeps its record of the task from it.
-- Such rows become status 'cancelled', cancelled_by the task-events
-- event id, last_error the event ('task acknowledged').  A row already
-- claimed and being sent is marked 'sent' if the send succeeds (the log
-- says what went out); a failed try of a cancelled row is not retried.
--
-- notify_task_marks remembers the last closing event of each (complaint,
-- attempt), for a dispatch message read after its task-event (the two
-- topics are read side by side; after a pause either may be ahead): its
-- e-mail rows are logged 'cancelled' at once.  A 'reopened' event removes
-- the mark.  Written with the consumed task-events offsets, in the same
-- transaction as the dispatch rows.
--
-- The web role no longer reads notify_undelivered (every organisation's
-- targets); web_undelivered(org, limit) returns its organisation's only.

ALTER TABLE notify_deliveries DROP CONSTRAINT notify_deliveries_status_check;
ALTER TABLE notify_deliveries ADD CONSTRAINT notify_deliveries_status_check
    CHECK (status IN ('pending', 'sent', 'dead', 'cancelled'));
ALTER TABLE notify_deliveries ADD COLUMN cancelled_by uuid;

CREATE TABLE notify_task_marks (
    complaint_id uuid        NOT NULL,
    attempt      integer     NOT NULL,
    event        text        NOT NULL
                 CHECK (event IN ('acknowledged', 'resolved', 'rejected')),
    event_id     uuid        NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, attempt)
);

-- The organisation's given-up notifications, newest first (at most
-- p_limit, 1..500).  SECURITY DEFINER: komek_web has no SELECT on the log.
CREATE FUNCTION web_undelivered(p_org text, p_limit integer)
RETURNS TABLE (complaint_id uuid, kind text, channel text, target text,
               tries integer, created_at timestamptz, last_error text)
LANGUAGE sql STABLE SECURITY DEFINER AS $$
    SELECT complaint_id, kind, channel, target, tries, created_at, last_error
      FROM notify_deliveries
     WHERE org_id = p_org AND status = 'dead'
     ORDER BY created_at DESC, id DESC
     LIMIT greatest(1, least(p_limit, 500))
$$;
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION web_undelivered(text, integer) '
                   'SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION web_undelivered(text, integer) FROM PUBLIC;

DELETE FROM role_grants WHERE role = 'komek_web'
   AND object = 'notify_undelivered';
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_web', 'web_undelivered', 'EXECUTE', NULL),
    ('komek_notify', 'notify_task_marks', 'SELECT, INSERT, UPDATE, DELETE',
     NULL)
ON CONFLICT DO NOTHING;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'komek_web') THEN
        EXECUTE format('REVOKE ALL ON %I.notify_undelivered FROM komek_web',
                       current_schema());
    END IF;
END
$$;
SELECT komek_grant_roles();
