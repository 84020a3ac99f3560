-- 091_web_roles.sql: role_grants rows for komek-web's tables and views
-- (040, 041); it runs after 090, which made role_grants and
-- komek_grant_roles().
--
-- komek_web is the group role of komek-web and its users CLI: its own
-- tables, and on the routing tables what km_task_apply, km_outbox and
-- km_dir_load need.  The dashboard's connections SET ROLE komek_analyst,
-- which reads the day-level views and the settings (no personal data).
-- deploy/pg.sh does not create komek_web yet: komek_grant_roles() skips it
-- with a NOTICE, and komek-web runs as the owner (komek) until the DBA
-- creates it (docs/web.md).

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_web', 'web_users', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_web', 'web_sessions', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_web', 'web_login_failures', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_web', 'categories', 'SELECT', NULL),
    ('komek_web', 'organisations', 'SELECT', NULL),
    ('komek_web', 'buildings', 'SELECT', NULL),
    ('komek_web', 'directory_version', 'SELECT', NULL),
    ('komek_web', 'tasks', 'SELECT, UPDATE', NULL),
    ('komek_web', 'task_attempts', 'SELECT', NULL),
    ('komek_web', 'task_outbox', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_analyst', 'web_complaints_daily', 'SELECT', NULL),
    ('komek_analyst', 'web_routed_daily', 'SELECT', NULL),
    ('komek_analyst', 'an_params', 'SELECT', NULL)
ON CONFLICT DO NOTHING;

SELECT komek_grant_roles();
