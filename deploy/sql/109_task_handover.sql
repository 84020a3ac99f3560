-- 109_task_handover.sql: open tasks follow the building (issue 17).
--
-- komek-directory import hands the open tasks of a building whose
-- organisation changed over to the new one (km_task_handover,
-- common/km_task.c): the task-events message "handed_over" (org_id: the
-- old organisation, reason rerouted:handover, note "to <org>") and the
-- dispatch of attempt + 1 go into task_outbox in the import's
-- transaction; komek-tasksink relays and applies them.  Its role locks
-- the task rows it hands over (SELECT ... FOR UPDATE needs an UPDATE
-- privilege: updated_at only, which it never writes) and writes the
-- outbox; nothing else of the tasks.

ALTER TABLE an_task_events DROP CONSTRAINT an_task_events_event_check;
ALTER TABLE an_task_events ADD CONSTRAINT an_task_events_event_check
    CHECK (event IN ('acknowledged', 'resolved', 'rejected', 'reopened',
                     'confirmed', 'commented', 'handed_over'));

-- the old organisation's inbox lists what it handed over
CREATE INDEX task_outbox_handed_over ON task_outbox (org_id, created_at)
    WHERE event = 'handed_over';

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_directory', 'tasks', 'SELECT', NULL),
    ('komek_directory', 'tasks', 'UPDATE', 'updated_at'),
    ('komek_directory', 'task_outbox', 'INSERT', NULL);

SELECT komek_grant_roles();
