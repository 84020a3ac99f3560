-- 098_inbox_role.sql: komek_inbox, the group role of komek-inbox (the
-- organisations' staff CLI; issue 19).  It reads the directory (a
-- re-route routes again, km_dir_load), the tasks and their history, and
-- changes a task only through task_lock and task_change (097), queueing
-- the task-events message in task_outbox and publishing it.  No web
-- tables, no API keys, no analytics.
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_inbox', 'categories', 'SELECT', NULL),
    ('komek_inbox', 'organisations', 'SELECT', NULL),
    ('komek_inbox', 'buildings', 'SELECT', NULL),
    ('komek_inbox', 'directory_version', 'SELECT', NULL),
    ('komek_inbox', 'tasks', 'SELECT', NULL),
    ('komek_inbox', 'task_attempts', 'SELECT', NULL),
    ('komek_inbox', 'task_outbox', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_inbox', 'task_lock', 'EXECUTE', NULL),
    ('komek_inbox', 'task_change', 'EXECUTE', NULL);

SELECT komek_grant_roles();
