/*
 * test_roles.c - least privilege (deploy/sql/090_roles.sql): in a fresh
 * migrated schema, each group role (made by deploy/pg.sh up; komek is a
 * member, so the test can SET ROLE) may do what its program needs and
 * nothing else.  The key case: komek_analyst cannot read tasks.contact
 * (nor the complaint, description or address), cannot write anything,
 * and can read the reference tables and the published views.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

static struct km_conf conf;
static char schema[128], conninfo[1024];
static PGconn *conn;

#define TASK_COLS                                                              \
        "(complaint_id, attempt, org_id, org_kind, category, route_reason, "   \
        "status, received_at, routed_at, due_at, description, contact, "       \
        "updated_at, complaint)"
#define TASK_VALS(id)                                                                   \
        "('" id "', 1, 'triage', 'triage', 'heating', 'unknown_building', "             \
        "'open', now(), now(), now() + interval '1 day', 'Нет отопления', " \
        "'{\"name\":\"Айгуль\",\"phone\":\"+77010000000\"}', now(), "             \
        "'{\"contact\":{\"phone\":\"+77010000000\"}}')"

/* Run sql as role in a transaction that is rolled back.  @returns "" on
 * success, else the SQLSTATE (static storage). */
static const char *as_role(const char *role, const char *sql)
{
        static char state[8];
        char set[64];
        PGresult *res;
        ExecStatusType st;

        snprintf(set, sizeof(set), "SET LOCAL ROLE %s", role);
        PQclear(PQexec(conn, "BEGIN"));
        res = PQexec(conn, set);
        assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
        PQclear(res);
        res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
        st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                state[0] = '\0';
        else
                snprintf(state, sizeof(state), "%s",
                         PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 : "?????");
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return state;
}

/* One value of a query run as the owner. */
static char *owner_value(const char *sql)
{
        PGresult *res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
        char *v;

        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(res));
                PQclear(res);
                fail();
        }
        v = km_xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        return v;
}

static int setup(void **state)
{
        char err[512];
        const char *roles[] = {"komek_intake", "komek_router", "komek_tasksink",
                               "komek_analytics", "komek_analyst"};
        PGresult *res;

        (void)state;
        if (km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                              sizeof(conninfo)))
                return -1;
        conn = km_pg_connect(conninfo, "komek-test", 30, err, sizeof(err));
        if (conn == NULL) {
                fprintf(stderr, "%s\n", err);
                return -1;
        }
        for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
                const char *p[1] = {roles[i]};

                res = PQexecParams(conn,
                                   "SELECT pg_has_role(current_user, $1, "
                                   "'MEMBER') FROM pg_roles WHERE rolname = $1",
                                   1, NULL, p, NULL, NULL, 0);
                if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t")) {
                        fprintf(stderr,
                                "role %s missing or komek not a member: "
                                "run `bash deploy/pg.sh up`\n",
                                roles[i]);
                        PQclear(res);
                        return -1;
                }
                PQclear(res);
        }
        res = PQexec(conn, "INSERT INTO tasks " TASK_COLS " VALUES " TASK_VALS(
                                   "00000000-0000-5000-8000-000000000001"));
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "insert task: %s\n", PQresultErrorMessage(res));
                PQclear(res);
                return -1;
        }
        PQclear(res);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        if (conn)
                PQfinish(conn);
        km_test_pg_schema_drop(&conf, schema);
        return 0;
}

static const struct {
        const char *role, *sql, *want; /* want: "" ok, or a SQLSTATE */
} rows[] = {
        /* the analyst: no personal data, no writes */
        {"komek_analyst", "SELECT contact FROM tasks", "42501"},
        {"komek_analyst", "SELECT * FROM tasks", "42501"},
        {"komek_analyst", "SELECT complaint FROM tasks", "42501"},
        {"komek_analyst", "SELECT description FROM tasks", "42501"},
        {"komek_analyst", "SELECT address FROM tasks", "42501"},
        {"komek_analyst", "SELECT contact->>'phone' FROM tasks", "42501"},
        {"komek_analyst",
         "SELECT complaint_id, org_id, category, status, "
         "received_at, resolved_at FROM tasks",
         ""},
        {"komek_analyst", "SELECT count(*) FROM tasks", ""},
        {"komek_analyst", "SELECT * FROM organisations", ""},
        {"komek_analyst", "SELECT * FROM buildings", ""},
        {"komek_analyst", "SELECT * FROM categories", ""},
        {"komek_analyst",
         "INSERT INTO tasks " TASK_COLS
         " VALUES " TASK_VALS("00000000-0000-5000-8000-000000000002"),
         "42501"},
        {"komek_analyst", "UPDATE tasks SET status = 'resolved'", "42501"},
        {"komek_analyst", "DELETE FROM tasks", "42501"},
        {"komek_analyst", "TRUNCATE tasks", "42501"},
        {"komek_analyst", "UPDATE organisations SET name = 'x'", "42501"},
        {"komek_analyst", "DELETE FROM categories", "42501"},
        {"komek_analyst", "CREATE TABLE analyst_own (a int)", "42501"},
        {"komek_analyst", "SELECT * FROM task_outbox", "42501"},
        {"komek_analyst", "SELECT * FROM api_keys", "42501"},
        {"komek_analyst", "SELECT * FROM gateway_requests", "42501"},
        {"komek_analyst", "SELECT * FROM consumer_offsets", "42501"},
        {"komek_analyst", "SELECT * FROM role_grants", "42501"},
        {"komek_analyst", "SELECT komek_grant_roles()", "42501"},
        /* the task sink writes tasks, reads no keys */
        {"komek_tasksink",
         "INSERT INTO tasks " TASK_COLS
         " VALUES " TASK_VALS("00000000-0000-5000-8000-000000000003"),
         ""},
        {"komek_tasksink", "UPDATE tasks SET status = 'acknowledged'", ""},
        {"komek_tasksink",
         "INSERT INTO consumer_offsets (consumer, topic, "
         "partition, next_offset) VALUES ('c', 't', 0, 1)",
         ""},
        {"komek_tasksink", "DELETE FROM tasks", "42501"},
        {"komek_tasksink", "SELECT * FROM api_keys", "42501"},
        {"komek_tasksink", "SELECT * FROM gateway_requests", "42501"},
        /* the gateway sees a task's status, not the resident */
        {"komek_intake",
         "SELECT status, status_note, org_id, due_at, "
         "updated_at FROM tasks",
         ""},
        {"komek_intake", "SELECT contact FROM tasks", "42501"},
        {"komek_intake", "SELECT complaint FROM tasks", "42501"},
        /* a resident's dispute goes through task_resident_change
         * (105_task_reopen.sql): no UPDATE on tasks, no staff functions */
        {"komek_intake", "UPDATE tasks SET status = 'reopened'", "42501"},
        {"komek_intake", "UPDATE tasks SET org_id = 'x'", "42501"},
        {"komek_intake",
         "SELECT * FROM task_resident_lock("
         "gen_random_uuid())",
         ""},
        {"komek_intake", "SELECT task_lock(gen_random_uuid(), 'x')", "42501"},
        {"komek_intake", "UPDATE task_outbox SET note = 'x'", "42501"},
        {"komek_intake", "DELETE FROM task_outbox", "42501"},
        {"komek_intake",
         "INSERT INTO gateway_requests (id, source, "
         "service_code, description, requested_at) VALUES "
         "(gen_random_uuid(), 'web', 'heating', 'x', now())",
         ""},
        {"komek_intake", "UPDATE api_keys SET rate_limit = 1000000", "42501"},
        /* the router only reads the directory */
        {"komek_router", "SELECT * FROM buildings", ""},
        {"komek_router", "SELECT version FROM directory_version", ""},
        {"komek_router", "SELECT * FROM tasks", "42501"},
        {"komek_router",
         "SELECT task_resident_change(gen_random_uuid(), "
         "'reopened', 0, 1)",
         "42501"},
        {"komek_router", "SELECT complaint_id FROM tasks", ""},
        {"komek_router", "UPDATE buildings SET apartments = 1", "42501"},
        /* the analytics writer never sees tasks */
        {"komek_analytics", "SELECT contact FROM tasks", "42501"},
        {"komek_analytics", "SELECT complaint_id FROM tasks", "42501"},
        {"komek_analytics", "UPDATE consumer_offsets SET next_offset = 2", ""},
        /* incidents (114): the views run as the owner; the escalator links
         * a systemic case through incident_tasks, nobody changes the
         * settings but the owner */
        {"komek_analytics",
         "SELECT incident_id, complaint_id FROM "
         "incident_tasks",
         ""},
        {"komek_analytics", "SELECT * FROM incidents", "42501"},
        {"komek_analytics", "UPDATE incident_settings SET window_s = 60",
         "42501"},
        {"komek_web", "SELECT * FROM incidents", ""},
        {"komek_web", "SELECT * FROM incident_tasks", ""},
        {"komek_web", "UPDATE incident_settings SET window_s = 60", "42501"},
        {"komek_inbox", "SELECT * FROM incidents", ""},
        {"komek_inbox", "SELECT * FROM incident_settings", "42501"},
        {"komek_analyst", "SELECT * FROM incident_settings", ""},
        {"komek_intake", "SELECT * FROM incident_tasks", "42501"},
};

static void test_privileges(void **state)
{
        int bad = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                const char *got = as_role(rows[i].role, rows[i].sql);

                if (strcmp(got, rows[i].want) != 0) {
                        fprintf(stderr, "%s: %s: got '%s', want '%s'\n",
                                rows[i].role, rows[i].sql, got[0] ? got : "ok",
                                rows[i].want[0] ? rows[i].want : "ok");
                        bad++;
                }
        }
        assert_int_equal(bad, 0);
}

/* No write privilege on any relation of the schema for the readers. */
static void test_readers_write_nothing(void **state)
{
        static const char *const sql =
                "SELECT count(*) || ': ' || coalesce(string_agg(r.rolname || ' on ' "
                "|| c.relname, ', '), '') FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "CROSS JOIN pg_roles r "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r','v','m','p') "
                "AND r.rolname IN ('komek_analyst', 'komek_router') "
                "AND (has_table_privilege(r.oid, c.oid, "
                "'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER') "
                "OR has_any_column_privilege(r.oid, c.oid, 'INSERT, UPDATE'))";
        char *v;

        (void)state;
        v = owner_value(sql);
        if (strncmp(v, "0: ", 3) != 0)
                fail_msg("readers may write: %s", v);
        free(v);
        v = owner_value("SELECT has_schema_privilege('komek_analyst', "
                        "current_schema(), 'CREATE')::text");
        assert_string_equal(v, "false");
        free(v);
        v = owner_value("SELECT has_column_privilege('komek_analyst', 'tasks', "
                        "'contact', 'SELECT')::text");
        assert_string_equal(v, "false");
        free(v);
}

/* Every published view that exists is readable by the analyst. */
static void test_analyst_views(void **state)
{
        PGresult *res;
        int nviews;

        (void)state;
        res = PQexec(conn,
                     "SELECT g.object FROM role_grants g "
                     "JOIN pg_class c ON c.relname = g.object "
                     "AND c.relnamespace = current_schema()::regnamespace "
                     "WHERE g.role = 'komek_analyst' AND c.relkind = 'v'");
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        nviews = PQntuples(res);
        for (int i = 0; i < nviews; i++) {
                char *q = km_xasprintf("SELECT * FROM %s LIMIT 1",
                                       PQgetvalue(res, i, 0));
                const char *got = as_role("komek_analyst", q);

                if (got[0])
                        fail_msg("analyst cannot read view %s: %s",
                                 PQgetvalue(res, i, 0), got);
                free(q);
        }
        printf("analyst reads %d published view(s)\n", nviews);
        PQclear(res);
}

/* A table nobody was given a decision for is a table nobody can use (or,
 * worse, one someone will grant wholesale): every relation of the schema
 * is in role_grants, except the owner's own bookkeeping. */
static void test_every_relation_decided(void **state)
{
        char *v;

        (void)state;
        v = owner_value(
                "SELECT coalesce(string_agg(c.relname, ', ' ORDER BY c.relname), '') "
                "FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind IN ('r','v','m','p') "
                "AND c.relname NOT IN ('schema_migrations', 'role_grants') "
                "AND NOT EXISTS (SELECT 1 FROM role_grants g WHERE g.object = c.relname)");
        if (v[0])
                fail_msg("no role_grants rows for: %s (add them in a migration "
                         "and call komek_grant_roles())",
                         v);
        free(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_privileges),
                cmocka_unit_test(test_readers_write_nothing),
                cmocka_unit_test(test_analyst_views),
                cmocka_unit_test(test_every_relation_decided),
        };
        int r;

        if (km_test_conf(&conf))
                return 1;
        r = cmocka_run_group_tests(tests, setup, teardown);
        km_conf_destroy(&conf);
        return r;
}
