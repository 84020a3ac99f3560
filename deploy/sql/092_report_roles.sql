-- 092_report_roles.sql: komek-report runs as the analyst: it reads the
-- daily aggregates (no personal data: counts per day, category, district,
-- channel) besides the published views of 090.
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_analyst', 'an_daily', 'SELECT', NULL),
    ('komek_analyst', 'an_daily_district', 'SELECT', NULL)
ON CONFLICT DO NOTHING;

SELECT komek_grant_roles();
