-- 093_router_dedup.sql: komek-router drops a resubmitted complaint that is
-- already a task (SELECT complaint_id FROM tasks WHERE complaint_id =
-- ANY($1::uuid[]), workers/router/router_dedup.c): it may read that one
-- column of tasks, nothing else of it.
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_router', 'tasks', 'SELECT', 'complaint_id')
ON CONFLICT DO NOTHING;

SELECT komek_grant_roles();
