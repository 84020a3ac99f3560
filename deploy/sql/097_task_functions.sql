-- 097_task_functions.sql: staff change a task only through two functions
-- (issue 19, least privilege by default).
--
-- komek-web and komek-inbox change a task's state (km_task_apply,
-- common/km_task.c).  Their roles had UPDATE on the whole of `tasks`: a
-- bug or a stolen connection of komek-web could rewrite any task's
-- organisation, complaint or dates.  Now they have SELECT only, and
--   task_lock(complaint, org)     locks the task of that organisation
--                                 (FOR UPDATE) and returns what the checks
--                                 need: status, attempt, the complaint,
--                                 the earliest time a change may have;
--   task_change(complaint, org, event, at, note)
--                                 makes one legal transition of the state
--                                 machine (km_task.h) of that
--                                 organisation's task: acknowledged from
--                                 open; resolved or rejected, with a note,
--                                 from open or acknowledged; `at` (NULL:
--                                 now) not before the complaint or its
--                                 acknowledgement, nor in the future;
--                                 @returns false and changes nothing else.
-- Both are SECURITY DEFINER (they run as the owner) with a fixed
-- search_path (this schema, then pg_temp), EXECUTE only for the roles
-- role_grants names.  The task-events message still goes into task_outbox
-- (INSERT) in the same transaction.
--
-- role_grants learns EXECUTE rows on functions (object = the function's
-- name, unique in the schema); komek_grant_roles() grants them.

ALTER TABLE role_grants DROP CONSTRAINT role_grants_privileges_check;
ALTER TABLE role_grants ADD CONSTRAINT role_grants_privileges_check
    CHECK (privileges ~ '^(SELECT|INSERT|UPDATE|DELETE)(, (SELECT|INSERT|UPDATE|DELETE))*$'
           OR (privileges = 'EXECUTE' AND columns IS NULL));

CREATE OR REPLACE FUNCTION komek_grant_roles() RETURNS integer
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
             WHERE r.privileges = 'EXECUTE'
               AND to_regproc(format('%I.%I', s, r.object)) IS NOT NULL
             ORDER BY r.role, r.object LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %I.%I TO %I', s, g.object,
                       g.role);
        n := n + 1;
    END LOOP;
    FOR g IN SELECT r.* FROM role_grants r
             JOIN pg_roles pr ON pr.rolname = r.role
             WHERE r.privileges <> 'EXECUTE'
               AND to_regclass(format('%I.%I', s, r.object)) IS NOT NULL
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

CREATE FUNCTION task_lock(p_complaint uuid, p_org text)
RETURNS TABLE (status text, attempt integer, complaint text, since bigint)
LANGUAGE sql SECURITY DEFINER AS $$
    SELECT t.status, t.attempt, t.complaint::text,
           extract(epoch FROM greatest(t.received_at, t.acknowledged_at))::bigint
      FROM tasks t
     WHERE t.complaint_id = p_complaint AND t.org_id = p_org
       FOR UPDATE
$$;

CREATE FUNCTION task_change(p_complaint uuid, p_org text, p_event text,
                            p_at bigint, p_note text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    v_at timestamptz := coalesce(to_timestamp(p_at), now());
BEGIN
    IF p_at IS NOT NULL AND p_at > extract(epoch FROM now())::bigint + 300 THEN
        RETURN false;
    END IF;
    IF p_event = 'acknowledged' THEN
        UPDATE tasks t SET status = 'acknowledged', acknowledged_at = v_at,
                           updated_at = v_at
         WHERE t.complaint_id = p_complaint AND t.org_id = p_org
           AND t.status = 'open'
           AND (p_at IS NULL OR p_at >= extract(epoch FROM t.received_at)::bigint);
    ELSIF p_event IN ('resolved', 'rejected') AND coalesce(p_note, '') <> '' THEN
        UPDATE tasks t SET status = p_event, status_note = p_note,
                           resolved_at = CASE WHEN p_event = 'resolved'
                                              THEN v_at ELSE t.resolved_at END,
                           updated_at = v_at
         WHERE t.complaint_id = p_complaint AND t.org_id = p_org
           AND t.status IN ('open', 'acknowledged')
           AND (p_at IS NULL OR p_at >= extract(epoch FROM
                greatest(t.received_at, t.acknowledged_at))::bigint);
    ELSE
        RETURN false;
    END IF;
    RETURN FOUND;
END
$$;

-- A SECURITY DEFINER function must not find the caller's objects first.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION task_lock(uuid, text) SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION task_change(uuid, text, text, bigint, text) '
                   'SET search_path = %I, pg_temp', current_schema());
END
$$;
REVOKE ALL ON FUNCTION task_lock(uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION task_change(uuid, text, text, bigint, text) FROM PUBLIC;

-- komek-web: tasks read-only; changes through the functions.
UPDATE role_grants SET privileges = 'SELECT'
 WHERE role = 'komek_web' AND object = 'tasks';
INSERT INTO role_grants (role, object, privileges, columns) VALUES
    ('komek_web', 'task_lock', 'EXECUTE', NULL),
    ('komek_web', 'task_change', 'EXECUTE', NULL);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'komek_web') THEN
        EXECUTE format('REVOKE UPDATE ON %I.tasks FROM komek_web',
                       current_schema());
    END IF;
END
$$;

SELECT komek_grant_roles();
