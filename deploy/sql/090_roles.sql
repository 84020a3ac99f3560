-- 090_roles.sql: least privilege for the komek programs' database roles.
--
-- The roles are cluster-wide NOLOGIN group roles, created by a superuser
-- (deploy/pg.sh up; in production the DBA, see docs/operations.md):
--   komek_intake    komek-intake, komek-gateway
--   komek_router    komek-router
--   komek_tasksink  komek-tasksink
--   komek_analytics komek-analytics, komek-escalator (the analytics writer)
--   komek_analyst   people: read-only on the published views and on tasks
--                   without the resident's data (contact, complaint,
--                   description, address, status_note)
-- Each program logs in as its own LOGIN user that is a member of its group
-- role.  The owner (komek, who runs komek-admin migrate) keeps everything;
-- no role may create objects, and none but the owner may TRUNCATE.
--
-- role_grants is the list of what each role may do; komek_grant_roles()
-- applies it to the objects of the current schema that exist, and skips
-- (with a NOTICE) roles that do not exist yet.  A later migration that
-- adds a table inserts its rows here and calls SELECT komek_grant_roles();
-- grants are idempotent, so calling it again is harmless.

CREATE TABLE role_grants (
    role       text NOT NULL CHECK (role ~ '^komek_[a-z]+$'),
    object     text NOT NULL CHECK (object ~ '^[a-z_][a-z0-9_]*$'),
    -- a comma-separated list of SELECT, INSERT, UPDATE, DELETE
    privileges text NOT NULL
               CHECK (privileges ~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$'),
    -- NULL: the whole table or view; else these columns only
    columns    text CHECK (columns ~ '^[a-z_][a-z0-9_]*(, [a-z_][a-z0-9_]*)*$'),
    PRIMARY KEY (role, object, privileges)
);

INSERT INTO role_grants (role, object, privileges, columns) VALUES
    -- intake and the Open311 gateway: keys, its own requests, and a task's
    -- public status for GET /requests
    ('komek_intake', 'categories', 'SELECT', NULL),
    ('komek_intake', 'organisations', 'SELECT', NULL),
    ('komek_intake', 'api_keys', 'SELECT', NULL),
    ('komek_intake', 'gateway_requests', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_intake', 'tasks', 'SELECT',
     'complaint_id, status, status_note, org_id, due_at, updated_at'),
    -- the router reads the directory; its offsets travel in Kafka transactions
    ('komek_router', 'categories', 'SELECT', NULL),
    ('komek_router', 'organisations', 'SELECT', NULL),
    ('komek_router', 'buildings', 'SELECT', NULL),
    ('komek_router', 'directory_version', 'SELECT', NULL),
    -- the task sink writes tasks and relays the inbox outbox
    ('komek_tasksink', 'categories', 'SELECT', NULL),
    ('komek_tasksink', 'organisations', 'SELECT', NULL),
    ('komek_tasksink', 'tasks', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_tasksink', 'task_attempts', 'SELECT, INSERT', NULL),
    ('komek_tasksink', 'task_outbox', 'SELECT, UPDATE', NULL),
    ('komek_tasksink', 'consumer_offsets', 'SELECT, INSERT, UPDATE', NULL),
    -- the analytics writer and the escalator
    ('komek_analytics', 'categories', 'SELECT', NULL),
    ('komek_analytics', 'organisations', 'SELECT', NULL),
    ('komek_analytics', 'buildings', 'SELECT', NULL),
    ('komek_analytics', 'consumer_offsets', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_analytics', 'an_settings', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_complaints', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_tasks', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_task_events', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_votes', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_daily', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_daily_district', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_org_daily', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_vote_month', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'an_watermarks', 'SELECT, INSERT, UPDATE, DELETE', NULL),
    ('komek_analytics', 'escalations', 'SELECT, INSERT, UPDATE', NULL),
    ('komek_analytics', 'an_params', 'SELECT', NULL),
    ('komek_analytics', 'task_times', 'SELECT', NULL),
    ('komek_analytics', 'org_apartments', 'SELECT', NULL),
    -- analysts: reference data, the published views, tasks without the
    -- resident's data; nothing else, and no writes
    ('komek_analyst', 'categories', 'SELECT', NULL),
    ('komek_analyst', 'organisations', 'SELECT', NULL),
    ('komek_analyst', 'buildings', 'SELECT', NULL),
    ('komek_analyst', 'tasks', 'SELECT',
     'complaint_id, attempt, org_id, org_kind, building_id, district, category, route_reason, status, received_at, routed_at, due_at, acknowledged_at, resolved_at, updated_at'),
    ('komek_analyst', 'complaints_weekly', 'SELECT', NULL),
    ('komek_analyst', 'complaints_weekly_total', 'SELECT', NULL),
    ('komek_analyst', 'complaints_weekly_district', 'SELECT', NULL),
    ('komek_analyst', 'channels_weekly', 'SELECT', NULL),
    ('komek_analyst', 'complaints_ytd', 'SELECT', NULL),
    ('komek_analyst', 'task_times', 'SELECT', NULL),
    ('komek_analyst', 'org_apartments', 'SELECT', NULL),
    ('komek_analyst', 'org_monthly', 'SELECT', NULL),
    ('komek_analyst', 'org_stats', 'SELECT', NULL),
    ('komek_analyst', 'district_monthly', 'SELECT', NULL),
    ('komek_analyst', 'ksk_rating', 'SELECT', NULL),
    ('komek_analyst', 'escalations_weekly', 'SELECT', NULL),
    ('komek_analyst', 'escalations', 'SELECT', NULL);

-- Apply role_grants to the current schema.  Dynamic SQL from role_grants
-- only: every name is quoted with %I / quote_ident, privileges are checked
-- by the table's CHECK.  @returns the number of grants made.
CREATE FUNCTION komek_grant_roles() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    s    text := current_schema();
    g    record;
    cols text;
    seq  text;
    n    integer := 0;
BEGIN
    FOR g IN SELECT DISTINCT role FROM role_grants ORDER BY role LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g.role) THEN
            EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s, g.role);
        ELSE
            RAISE NOTICE 'role % does not exist (deploy/pg.sh up creates it): no grants', g.role;
        END IF;
    END LOOP;
    FOR g IN SELECT r.* FROM role_grants r
             JOIN pg_roles pr ON pr.rolname = r.role
             WHERE to_regclass(format('%I.%I', s, r.object)) IS NOT NULL
             ORDER BY r.role, r.object LOOP
        IF g.columns IS NULL THEN
            EXECUTE format('GRANT %s ON %I.%I TO %I', g.privileges, s,
                           g.object, g.role);
        ELSE
            SELECT string_agg(quote_ident(trim(c)), ', ') INTO cols
              FROM unnest(string_to_array(g.columns, ',')) AS c;
            EXECUTE format('GRANT %s (%s) ON %I.%I TO %I', g.privileges, cols,
                           s, g.object, g.role);
        END IF;
        n := n + 1;
        -- INSERT into a table with a serial column needs its sequence
        IF g.privileges LIKE '%INSERT%' THEN
            FOR seq IN SELECT pg_get_serial_sequence(format('%I.%I', s, g.object), a.attname)
                         FROM pg_attribute a
                        WHERE a.attrelid = to_regclass(format('%I.%I', s, g.object))
                          AND a.attnum > 0 AND NOT a.attisdropped LOOP
                IF seq IS NOT NULL THEN
                    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %I', seq, g.role);
                END IF;
            END LOOP;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
REVOKE ALL ON FUNCTION komek_grant_roles() FROM PUBLIC;

SELECT komek_grant_roles();
