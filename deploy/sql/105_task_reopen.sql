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

-- The gateway applies the resident's update: it reads and changes only
-- what that needs (never the complaint or the contact) and publishes the
-- outbox rows it wrote (komek-tasksink relays what it could not).
UPDATE role_grants
   SET columns = 'complaint_id, status, status_note, org_id, due_at, '
                 'updated_at, building_id, attempt, category, received_at, '
                 'acknowledged_at, resolved_at, reopened_at, confirmed_at'
 WHERE role = 'komek_intake' AND object = 'tasks' AND privileges = 'SELECT';
UPDATE role_grants
   SET columns = 'event_id, topic, msg_key, payload, complaint_id, attempt, '
                 'org_id, event, note, created_at, published_at'
 WHERE role = 'komek_intake' AND object = 'task_outbox'
   AND privileges = 'SELECT';
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_intake', 'tasks', 'UPDATE',
     'status, status_note, due_at, updated_at, reopened_at, confirmed_at'),
    ('komek_intake', 'task_outbox', 'INSERT', NULL),
    ('komek_intake', 'task_outbox', 'UPDATE', 'published_at')
ON CONFLICT DO NOTHING;
SELECT komek_grant_roles();
