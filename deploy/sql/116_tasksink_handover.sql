-- 116_tasksink_handover.sql: a task routed by an old directory follows
-- its building too (issue 17).
--
-- komek-directory import hands over the open tasks that exist when it
-- commits (109).  A router still holding the old directory (it reloads
-- between batches, within router.reload_ms) and the dispatch messages
-- already on the topic make more tasks for the old organisation after
-- that.  komek-tasksink, in the transaction that writes a batch, finds
-- its tasks whose organisation is not the one directory_responsible()
-- names for the building, category and received_at, and hands each over
-- with km_task_handover (task-events handed_over, dispatch attempt + 1,
-- through task_outbox) as the import does.  It reads the periods and
-- writes the outbox for that.

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_tasksink', 'building_orgs', 'SELECT', NULL),
    ('komek_tasksink', 'buildings', 'SELECT', NULL),
    ('komek_tasksink', 'building_periods', 'SELECT', NULL),
    ('komek_tasksink', 'task_outbox', 'INSERT', NULL);

SELECT komek_grant_roles();
