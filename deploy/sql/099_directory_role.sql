-- 099_directory_role.sql: komek_directory, the group role of
-- komek-directory (the CSV import of organisations and buildings, and its
-- lookups; issue 19, least privilege by default).  It writes the
-- directory and bumps directory_version (the routers reload on it), and
-- nothing else: no tasks, no keys, no web or analytics tables.  LOCK
-- TABLE ... SHARE ROW EXCLUSIVE needs UPDATE, which it has.
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_directory', 'organisations', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_directory', 'buildings', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_directory', 'directory_version', 'SELECT, UPDATE', NULL),
    ('komek_directory', 'categories', 'SELECT', NULL);

SELECT komek_grant_roles();
