/*
 * test_login_roles.c - one LOGIN role per program (issue 19, deploy/pg.sh
 * up): each logs in itself (not SET ROLE from the owner), is a member of
 * its group role(s) only, is no superuser and cannot create roles or
 * databases, and in a fresh migrated schema may do what its program needs
 * and not what it must not (the report cannot read contacts; the web
 * cannot read API keys or delete tasks but can run the sign-in throttle;
 * the gateway reads its requests and the building of a task, not the
 * contact; the router cannot write tasks).  The staff's roles (web,
 * inbox) cannot UPDATE tasks: they change one only through task_lock and
 * task_change (097), which make legal transitions of the task's own
 * organisation only, whoever calls them, and cannot be led astray by the
 * caller's temporary tables.  Every other program test runs its program
 * as its login too (deploy/komek.conf's <prog>.pg_user), so a missing
 * grant fails that test.
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

static const char *const groups[] = {"komek_intake",
                                     "komek_router",
                                     "komek_tasksink",
                                     "komek_analytics",
                                     "komek_analyst",
                                     "komek_web",
                                     "komek_inbox",
                                     "komek_directory",
                                     "komek_notify",
                                     "komek",
                                     NULL};

static const struct {
        const char *login, *member_of; /* comma-separated groups */
} logins[] = {
        {"komek_router_app", "komek_router"},
        {"komek_tasksink_app", "komek_tasksink"},
        {"komek_analytics_app", "komek_analytics"},
        {"komek_escalator_app", "komek_analytics"},
        {"komek_gateway_app", "komek_intake"},
        {"komek_intake_app", "komek_intake"},
        {"komek_web_app", "komek_web,komek_analyst"},
        {"komek_report_app", "komek_analyst"},
        {"komek_inbox_app", "komek_inbox"},
        {"komek_directory_app", "komek_directory"},
        {"komek_notify_app", "komek_notify"},
};

/* a task of ksk-1 made by setup (owner) for the function tests */
#define TASK "00000000-0000-4000-8000-000000000019"
#define NOTASK "00000000-0000-4000-8000-000000000020"

/* Connect as login to the test schema.  Fails the test if it cannot. */
static PGconn *as_login(const char *login)
{
        char ci[1200], err[512];
        PGconn *c;

        /* a repeated keyword: libpq takes the last */
        snprintf(ci, sizeof(ci), "%s user=%s", conninfo, login);
        c = km_pg_connect(ci, "test_login_roles", 10, err, sizeof(err));
        if (c == NULL)
                fail_msg("%s cannot log in (run `bash deploy/pg.sh up`): %s",
                         login, err);
        return c;
}

/* Run sql on c in a rolled-back transaction.  @returns "" or the
 * SQLSTATE. */
static const char *run(PGconn *c, const char *sql)
{
        static char state[8];
        PGresult *res;
        ExecStatusType st;

        PQclear(PQexec(c, "BEGIN"));
        res = PQexec(c, sql);
        st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
                state[0] = '\0';
        else
                snprintf(state, sizeof(state), "%s",
                         PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 : "?????");
        PQclear(res);
        PQclear(PQexec(c, "ROLLBACK"));
        return state;
}

static void test_logins_and_memberships(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
                PGconn *c = as_login(logins[i].login);
                PGresult *res;

                res = PQexec(c, "SELECT current_user, rolsuper, rolcreatedb, "
                                "rolcreaterole FROM pg_roles WHERE rolname = "
                                "current_user");
                assert_int_equal(PQntuples(res), 1);
                assert_string_equal(PQgetvalue(res, 0, 0), logins[i].login);
                if (strcmp(PQgetvalue(res, 0, 1), "f") ||
                    strcmp(PQgetvalue(res, 0, 2), "f") ||
                    strcmp(PQgetvalue(res, 0, 3), "f"))
                        fail_msg("%s: superuser, createdb or createrole",
                                 logins[i].login);
                PQclear(res);
                for (int g = 0; groups[g]; g++) {
                        const char *p[1] = {groups[g]};
                        char want[80];
                        int in;

                        snprintf(want, sizeof(want), ",%s,",
                                 logins[i].member_of);
                        res = PQexecParams(c,
                                           "SELECT pg_has_role(current_user, "
                                           "$1, 'MEMBER')",
                                           1, NULL, p, NULL, NULL, 0);
                        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
                        in = PQgetvalue(res, 0, 0)[0] == 't';
                        PQclear(res);
                        {
                                char needle[40];

                                snprintf(needle, sizeof(needle), ",%s,",
                                         groups[g]);
                                if (in != (strstr(want, needle) != NULL))
                                        fail_msg("%s member of %s: got %d, "
                                                 "want %d",
                                                 logins[i].login, groups[g], in,
                                                 !in);
                        }
                }
                PQfinish(c);
        }
}

static void test_what_each_may_do(void **state)
{
        static const struct {
                const char *login, *sql, *want; /* "" ok, else SQLSTATE */
        } rows[] = {
                {"komek_report_app", "SELECT count(*) FROM an_daily", ""},
                {"komek_report_app", "SELECT contact FROM tasks", "42501"},
                {"komek_report_app", "SELECT description FROM tasks", "42501"},
                {"komek_report_app", "SELECT * FROM web_users", "42501"},
                {"komek_web_app", "SELECT count(*) FROM web_users", ""},
                {"komek_web_app",
                 "SELECT web_login_attempt('x', '192.0.2.1', 5, 50, 1, 900, "
                 "3600, 100, 3600, 3600)",
                 ""},
                {"komek_web_app", "SELECT * FROM api_keys", "42501"},
                {"komek_web_app", "DELETE FROM tasks", "42501"},
                {"komek_web_app", "SET ROLE komek_analyst", ""},
                {"komek_gateway_app", "SELECT count(*) FROM gateway_requests",
                 ""},
                {"komek_gateway_app",
                 "SELECT building_id, status_note FROM tasks", ""},
                {"komek_gateway_app", "SELECT count(*) FROM buildings", ""},
                {"komek_gateway_app", "SELECT contact FROM tasks", "42501"},
                {"komek_gateway_app", "UPDATE api_keys SET rate_limit = 1",
                 "42501"},
                {"komek_router_app", "SELECT count(*) FROM buildings", ""},
                {"komek_router_app", "DELETE FROM tasks", "42501"},
                {"komek_router_app", "SELECT * FROM api_keys", "42501"},
                {"komek_tasksink_app", "SELECT count(*) FROM tasks", ""},
                {"komek_tasksink_app", "SELECT * FROM api_keys", "42501"},
                /* a task routed by an old directory: it reads who is
                 * responsible now (migration 116), changes no directory */
                {"komek_tasksink_app", "SELECT count(*) FROM building_periods",
                 ""},
                {"komek_tasksink_app", "DELETE FROM building_orgs", "42501"},
                {"komek_analytics_app", "SELECT count(*) FROM an_daily", ""},
                {"komek_analytics_app", "SELECT contact FROM tasks", "42501"},
                {"komek_escalator_app", "SELECT count(*) FROM escalations", ""},
                {"komek_escalator_app", "SELECT contact FROM tasks", "42501"},
                {"komek_intake_app", "SELECT contact FROM tasks", "42501"},
                {"komek_intake_app", "CREATE TABLE mine (a int)", "42501"},
                /* staff: tasks through the functions only */
                {"komek_web_app", "UPDATE tasks SET status = 'resolved'",
                 "42501"},
                {"komek_web_app", "UPDATE tasks SET org_id = 'ksk-2'", "42501"},
                {"komek_web_app", "SELECT 1 FROM tasks FOR UPDATE", "42501"},
                {"komek_web_app",
                 "SELECT * FROM task_lock('" NOTASK "', 'ksk-1')", ""},
                {"komek_web_app",
                 "SELECT task_change('" NOTASK "', 'ksk-1', "
                 "'acknowledged', NULL, NULL)",
                 ""},
                {"komek_inbox_app", "SELECT count(*) FROM tasks", ""},
                {"komek_inbox_app", "SELECT count(*) FROM task_outbox", ""},
                {"komek_inbox_app", "SELECT count(*) FROM buildings", ""},
                {"komek_inbox_app",
                 "SELECT * FROM task_lock('" NOTASK "', 'ksk-1')", ""},
                {"komek_inbox_app", "UPDATE tasks SET status = 'resolved'",
                 "42501"},
                {"komek_inbox_app", "DELETE FROM task_outbox", "42501"},
                {"komek_inbox_app", "SELECT * FROM web_users", "42501"},
                {"komek_inbox_app", "SELECT * FROM api_keys", "42501"},
                {"komek_inbox_app", "SELECT count(*) FROM an_daily", "42501"},
                {"komek_inbox_app", "CREATE TABLE mine (a int)", "42501"},
                /* the directory import: the directory, and the open tasks
                 * of a building that changed hands (migration 109: it
                 * reads and locks them, writes their handover to the
                 * outbox; it changes no task) */
                {"komek_directory_app",
                 "LOCK TABLE organisations, buildings IN SHARE ROW "
                 "EXCLUSIVE MODE",
                 ""},
                {"komek_directory_app", "DELETE FROM buildings", ""},
                {"komek_directory_app",
                 "UPDATE directory_version SET version = version + 1", ""},
                {"komek_directory_app", "SELECT count(*) FROM tasks", ""},
                {"komek_directory_app", "SELECT 1 FROM tasks FOR UPDATE", ""},
                {"komek_directory_app", "UPDATE tasks SET status = 'resolved'",
                 "42501"},
                {"komek_directory_app", "UPDATE tasks SET org_id = 'ksk-2'",
                 "42501"},
                {"komek_directory_app", "DELETE FROM task_outbox", "42501"},
                {"komek_directory_app", "UPDATE task_outbox SET note = 'x'",
                 "42501"},
                {"komek_directory_app", "SELECT * FROM api_keys", "42501"},
                {"komek_directory_app", "SELECT * FROM web_users", "42501"},
                {"komek_directory_app", "TRUNCATE buildings", "42501"},
                {"komek_directory_app", "DELETE FROM directory_version",
                 "42501"},
                /* nobody else may call them */
                {"komek_report_app",
                 "SELECT * FROM task_lock('" NOTASK "', 'ksk-1')", "42501"},
                {"komek_report_app", "SELECT * FROM tasks", "42501"},
                {"komek_gateway_app",
                 "SELECT task_change('" NOTASK "', "
                 "'ksk-1', 'acknowledged', NULL, NULL)",
                 "42501"},
                {"komek_router_app",
                 "SELECT * FROM task_lock('" NOTASK "', 'ksk-1')", "42501"},
                {"komek_analytics_app",
                 "SELECT task_change('" NOTASK "', "
                 "'ksk-1', 'resolved', NULL, 'x')",
                 "42501"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                PGconn *c = as_login(rows[i].login);
                const char *got = run(c, rows[i].sql);

                if (strcmp(got, rows[i].want) != 0)
                        fail_msg("%s: %s: got \"%s\", want \"%s\"",
                                 rows[i].login, rows[i].sql, got, rows[i].want);
                PQfinish(c);
        }
}

/* One statement's single value on c, or "error SQLSTATE"; "" for a
 * statement that returns no rows. */
static const char *val(PGconn *c, const char *sql)
{
        static char buf[64];
        PGresult *res = PQexec(c, sql);

        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
                snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
        else if (PQresultStatus(res) == PGRES_COMMAND_OK)
                buf[0] = '\0';
        else
                snprintf(buf, sizeof(buf), "error %s",
                         PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                 : "?");
        PQclear(res);
        return buf;
}

/* task_change, called directly by a staff role, makes only the state
 * machine's legal transitions of the named organisation's task, with a
 * note where one is due, never backdated before the complaint, and its
 * fixed search_path ignores the caller's temporary tables. */
static void test_task_change_guards(void **state)
{
        static const struct {
                const char *sql, *want;
        } steps[] = {
                /* another organisation's task: nothing */
                {"SELECT task_change('" TASK "', 'ksk-2', 'acknowledged', "
                 "NULL, NULL)",
                 "f"},
                {"SELECT count(*) FROM task_lock('" TASK "', 'ksk-2')", "0"},
                /* not a state the machine knows */
                {"SELECT task_change('" TASK "', 'ksk-1', 'open', NULL, "
                 "NULL)",
                 "f"},
                /* resolve needs a note */
                {"SELECT task_change('" TASK "', 'ksk-1', 'resolved', NULL, "
                 "'')",
                 "f"},
                /* before the complaint was received (2026-01-01) */
                {"SELECT task_change('" TASK "', 'ksk-1', 'acknowledged', "
                 "extract(epoch FROM timestamptz '2025-12-31')::bigint, "
                 "NULL)",
                 "f"},
                /* in the future */
                {"SELECT task_change('" TASK "', 'ksk-1', 'acknowledged', "
                 "extract(epoch FROM now() + interval '1 day')::bigint, "
                 "NULL)",
                 "f"},
                /* a temporary "tasks" of the caller is not the one changed */
                {"CREATE TEMP TABLE tasks (complaint_id uuid, org_id text, "
                 "status text)",
                 NULL},
                {"SELECT task_change('" TASK "', 'ksk-1', 'acknowledged', "
                 "NULL, NULL)",
                 "t"},
                {"SELECT status FROM task_lock('" TASK "', 'ksk-1')",
                 "acknowledged"},
                /* acknowledged once only */
                {"SELECT task_change('" TASK "', 'ksk-1', 'acknowledged', "
                 "NULL, NULL)",
                 "f"},
                {"SELECT task_change('" TASK "', 'ksk-1', 'resolved', NULL, "
                 "'done')",
                 "t"},
                /* resolved is final */
                {"SELECT task_change('" TASK "', 'ksk-1', 'rejected', NULL, "
                 "'not ours')",
                 "f"},
                {"SELECT status FROM task_lock('" TASK "', 'ksk-1')",
                 "resolved"},
                {"SELECT count(*) FROM pg_temp.tasks", "0"},
        };
        const char *logins2[] = {"komek_web_app", "komek_inbox_app"};

        (void)state;
        for (int l = 0; l < 2; l++) {
                PGconn *c = as_login(logins2[l]);

                PQclear(PQexec(c, "BEGIN"));
                for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                        const char *got = val(c, steps[i].sql);

                        if (steps[i].want && strcmp(got, steps[i].want) != 0)
                                fail_msg("%s: %s: got \"%s\", want \"%s\"",
                                         logins2[l], steps[i].sql, got,
                                         steps[i].want);
                }
                PQclear(PQexec(c, "ROLLBACK"));
                PQfinish(c);
        }
}

static int setup(void **state)
{
        (void)state;
        if (km_test_conf(&conf))
                return -1;
        if (km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                              sizeof(conninfo)))
                return -1;
        {
                char err[512];
                PGconn *c = km_pg_connect(conninfo, "test_login_roles", 10, err,
                                          sizeof(err));
                int r;

                if (c == NULL)
                        return -1;
                r = km_pg_exec(c,
                               "INSERT INTO tasks (complaint_id, attempt, "
                               "org_id, org_kind, category, route_reason, "
                               "status, received_at, routed_at, due_at, "
                               "description, updated_at, complaint) VALUES "
                               "('" TASK "', 1, 'ksk-1', 'ksk', 'heating', "
                               "'building', 'open', '2026-01-01', "
                               "'2026-01-01', '2026-01-02', 'x', "
                               "'2026-01-01', '{}')",
                               0, NULL, NULL, err, sizeof(err));
                PQfinish(c);
                if (r)
                        fprintf(stderr, "setup: %s\n", err);
                return r ? -1 : 0;
        }
}

static int teardown(void **state)
{
        (void)state;
        km_test_pg_schema_drop(&conf, schema);
        km_conf_destroy(&conf);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_logins_and_memberships),
                cmocka_unit_test(test_what_each_may_do),
                cmocka_unit_test(test_task_change_guards),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
