-- 103_notify_roles.sql: komek-notify's grants (role komek_notify, login
-- komek_notify_app, deploy/pg.sh) and what the inbox may read of the log:
-- undelivered notifications of its organisation (notify_undelivered), and
-- what komek-directory needs to import the channels.

CREATE VIEW notify_undelivered AS
SELECT id, event_id, kind, complaint_id, attempt, org_id, channel, target,
       tries, created_at, last_error
  FROM notify_deliveries
 WHERE status = 'dead';

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_notify', 'categories', 'SELECT', NULL),
    ('komek_notify', 'organisations', 'SELECT', NULL),
    ('komek_notify', 'org_channels', 'SELECT', NULL),
    ('komek_notify', 'notify_deliveries', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_notify', 'consumer_offsets', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_notify', 'tasks', 'SELECT',
     'complaint_id, attempt, org_id, category, district, building_id, status, routed_at, due_at'),
    -- komek-directory imports the channels (its role, komek_directory,
    -- comes with 099_directory_role.sql; skipped with a NOTICE where it
    -- does not exist); the history is written by its trigger, as the
    -- importing role
    ('komek_directory', 'org_channels', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_directory', 'org_channel_history', 'INSERT', NULL),
    ('komek_web', 'notify_undelivered', 'SELECT', NULL),
    ('komek_analyst', 'notify_undelivered', 'SELECT', NULL),
    -- the channels' history holds no secret
    ('komek_analyst', 'org_channel_history', 'SELECT', NULL)
ON CONFLICT DO NOTHING;
SELECT komek_grant_roles();
