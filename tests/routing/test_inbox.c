/*
 * test_inbox.c - komek-inbox against a running router and task sink:
 * list (oldest first, overdue marked), show, acknowledge, resolve and
 * reject with their state rules (no resolve of an unknown or another
 * organisation's task, no second resolve, notes required); a rejected
 * task is re-routed to triage, then by triage with a corrected category
 * to the lift operator, keeping its complaint id; each change is exactly
 * one task-events message, and one the inbox could not publish is
 * relayed by komek-tasksink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_id.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

static struct rt t;
static int router, sink;

/* A one-row, one-column query as text into buf. */
static void q1(const char *sql, const char *arg, char *buf, size_t len)
{
        const char *p[1] = {arg};
        PGresult *res = NULL;
        char err[512];

        if (km_pg_exec(t.conn, sql, arg ? 1 : 0, p, &res, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
        if (PQntuples(res) != 1)
                fail_msg("%s: %d rows", sql, PQntuples(res));
        snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
}

static long qn(const char *sql, const char *arg)
{
        char buf[64];

        q1(sql, arg, buf, sizeof(buf));
        return strtol(buf, NULL, 10);
}

static long wait_n(const char *sql, const char *arg, long want)
{
        int64_t deadline = km_now_ms() + 30000;
        long v;

        while ((v = qn(sql, arg)) != want && km_now_ms() < deadline) {
                /* polling the database against the deadline */
                struct timespec ts = {0, 100 * 1000000L};

                nanosleep(&ts, NULL);
        }
        return v;
}

/* Run komek-inbox --org org args...; @returns the exit status. */
static int inbox(const char *org, char **out, ...)
{
        const char *args[16];
        char orgarg[96];
        va_list ap;
        int n = 0, st;

        snprintf(orgarg, sizeof(orgarg), "--org=%s", org);
        args[n++] = orgarg;
        va_start(ap, out);
        while (n < 15 && (args[n] = va_arg(ap, const char *)) != NULL)
                n++;
        va_end(ap);
        args[n] = NULL;
        st = rt_run(&t, "inbox", args, out);
        return st;
}

struct events {
        int n;
        char ids[32][40];
        char kinds[32][16];
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct events *ev = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);

        if (ev->n < 32 && o) {
                snprintf(ev->ids[ev->n], sizeof(ev->ids[0]), "%s",
                         json_string_value(json_object_get(o, "event_id")));
                snprintf(ev->kinds[ev->n], sizeof(ev->kinds[0]), "%s",
                         json_string_value(json_object_get(o, "event")));
                assert_int_equal(json_integer_value(
                                         json_object_get(o, "schema_version")),
                                 1);
        }
        ev->n++;
        json_decref(o);
        return 0;
}

static void test_inbox(void **state)
{
        char org[64], other[64], a[40], b[40], c[40], d[40], lift[64];
        char *out = NULL, first[40];
        struct events ev;
        int unique;

        (void)state;
        /* pick a KSK with at least three tasks, one of whose buildings has
         * a lift operator */
        q1("SELECT t.org_id FROM tasks t JOIN buildings b ON b.id = "
           "t.building_id WHERE t.org_kind = 'ksk' AND b.lift_operator_id IS "
           "NOT NULL GROUP BY t.org_id HAVING count(*) >= 3 ORDER BY "
           "count(*) DESC, t.org_id LIMIT 1",
           NULL, org, sizeof(org));
        q1("SELECT t.complaint_id FROM tasks t JOIN buildings b ON b.id = "
           "t.building_id WHERE t.org_id = $1 AND b.lift_operator_id IS NOT "
           "NULL ORDER BY t.received_at DESC LIMIT 1",
           org, b, sizeof(b));
        q1("SELECT lift_operator_id FROM buildings WHERE id = (SELECT "
           "building_id FROM tasks WHERE complaint_id = $1::uuid)",
           b, lift, sizeof(lift));
        q1("SELECT complaint_id FROM tasks WHERE org_id = $1 ORDER BY "
           "received_at, complaint_id LIMIT 1",
           org, a, sizeof(a));
        q1("SELECT complaint_id FROM tasks WHERE org_id = $1 ORDER BY "
           "received_at, complaint_id LIMIT 1 OFFSET 1",
           org, c, sizeof(c));
        if (strcmp(c, b) == 0)
                q1("SELECT complaint_id FROM tasks WHERE org_id = $1 ORDER BY "
                   "received_at, complaint_id LIMIT 1 OFFSET 2",
                   org, c, sizeof(c));
        q1("SELECT org_id FROM tasks WHERE org_id NOT IN ($1, 'triage') "
           "LIMIT 1",
           org, other, sizeof(other));
        q1("SELECT complaint_id FROM tasks WHERE org_id = $1 LIMIT 1", other, d,
           sizeof(d));
        assert_string_not_equal(a, b);
        assert_string_not_equal(a, c);
        assert_string_not_equal(b, c);

        /* list: oldest first; all are past due but the one made not */
        {
                const char *p[1] = {c};
                char err[256];

                assert_int_equal(km_pg_exec(t.conn,
                                            "UPDATE tasks SET due_at = now() + "
                                            "interval '1 day' WHERE "
                                            "complaint_id = $1::uuid",
                                            1, p, NULL, err, sizeof(err)),
                                 0);
        }
        assert_int_equal(inbox(org, &out, "list", NULL), 0);
        printf("%s", out);
        snprintf(first, sizeof(first), "! %s", a);
        {
                /* after the open incidents (if the data has any) */
                char *l0 = strstr(out, "inbox of ");
                char *l2 = strchr(strchr(l0, '\n') + 1, '\n') + 1;
                char want[64];

                assert_memory_equal(l2, first, strlen(first));
                snprintf(want, sizeof(want), "\n  %s", c);
                assert_non_null(strstr(out, want)); /* not past due */
        }
        free(out);

        /* acknowledge, then resolve with a note */
        assert_int_equal(inbox(org, NULL, "ack", a, NULL), 0);
        assert_int_equal(qn("SELECT count(*) FROM tasks WHERE complaint_id = "
                            "$1::uuid AND status = 'acknowledged' AND "
                            "acknowledged_at IS NOT NULL",
                            a),
                         1);
        assert_int_equal(inbox(org, NULL, "ack", a, NULL), 1);     /* twice */
        assert_int_equal(inbox(org, NULL, "resolve", a, NULL), 1); /* no note */
        assert_int_equal(inbox(org, NULL, "resolve", a, "--note",
                               "заменили кран, вода есть", NULL),
                         0);
        assert_int_equal(
                inbox(org, NULL, "resolve", a, "--note", "ещё раз", NULL),
                1); /* no resolve after resolve */
        assert_int_equal(inbox(org, NULL, "ack", a, NULL), 1);
        assert_int_equal(qn("SELECT count(*) FROM tasks WHERE complaint_id = "
                            "$1::uuid AND status = 'resolved' AND status_note "
                            "= 'заменили кран, вода есть'",
                            a),
                         1);
        /* another organisation's task, an unknown one, not an id */
        assert_int_equal(inbox(org, NULL, "resolve", d, "--note", "x", NULL),
                         1);
        assert_int_equal(inbox(org, NULL, "resolve",
                               "00000000-0000-4000-8000-000000000000", "--note",
                               "x", NULL),
                         1);
        assert_int_equal(
                inbox(org, NULL, "ack", "'; DROP TABLE tasks; --", NULL), 1);
        assert_int_equal(qn("SELECT count(*) FROM tasks WHERE complaint_id = "
                            "$1::uuid AND status = 'open'",
                            d),
                         1);

        /* reject: back to triage, attempt 2, same complaint id */
        assert_int_equal(inbox(org, NULL, "reject", b, NULL), 1); /* reason */
        assert_int_equal(
                inbox(org, &out, "reject", b, "--reason", "не наш дом", NULL),
                0);
        assert_non_null(strstr(out, "re-routed to triage as attempt 2"));
        free(out);
        assert_int_equal(wait_n("SELECT count(*) FROM tasks WHERE "
                                "complaint_id = $1::uuid AND org_id = 'triage' "
                                "AND attempt = 2 AND status = 'open' AND "
                                "route_reason = 'rerouted:not_ours'",
                                b, 1),
                         1);
        /* the rejecting organisation can no longer touch it */
        assert_int_equal(inbox(org, NULL, "ack", b, NULL), 1);
        /* triage must correct something; with category lift -> lift op */
        assert_int_equal(
                inbox("triage", NULL, "reject", b, "--reason", "?", NULL), 1);
        assert_int_equal(inbox("triage", NULL, "reject", b, "--reason", "лифт",
                               "--category", "nonsense", NULL),
                         1);
        assert_int_equal(inbox("triage", &out, "reject", b, "--reason",
                               "жалоба на лифт", "--category", "lift", NULL),
                         0);
        free(out);
        assert_int_equal(wait_n("SELECT count(*) FROM tasks WHERE "
                                "complaint_id = $1::uuid AND org_id = "
                                "(SELECT lift_operator_id FROM buildings WHERE "
                                "id = tasks.building_id) AND attempt = 3 AND "
                                "category = 'lift' AND status = 'open'",
                                b, 1),
                         1);
        assert_int_equal(qn("SELECT count(*) FROM task_attempts WHERE "
                            "complaint_id = $1::uuid",
                            b),
                         3);
        assert_int_equal(inbox(lift, NULL, "ack", b, NULL), 0);

        /* five changes so far: exactly five task-events messages.  Every
         * one goes through the outbox, and a row is marked published only
         * after the broker acknowledged it: with none unpublished, the
         * topic's end is final and read to it, no settle time. */
        assert_int_equal(qn("SELECT count(*) FROM task_outbox WHERE "
                            "published_at IS NULL",
                            NULL),
                         0);
        memset(&ev, 0, sizeof(ev));
        assert_int_equal(km_test_read_to_end(&t.conf, t.events,
                                             "read_committed", 30000, collect,
                                             &ev),
                         5);
        assert_int_equal(ev.n, 5);
        for (int i = 0; i < ev.n; i++)
                for (int j = i + 1; j < ev.n; j++)
                        assert_string_not_equal(ev.ids[i], ev.ids[j]);

        /* an inbox that could not publish: the sink's relay does it */
        {
                const char *args[] = {
                        "--org", org, "--set", "inbox.publish=false",
                        "ack",   c,   NULL};

                assert_int_equal(rt_run(&t, "inbox", args, NULL), 0);
        }
        assert_int_equal(qn("SELECT count(*) FROM task_outbox WHERE "
                            "published_at IS NULL",
                            NULL),
                         1);
        assert_int_equal(wait_n("SELECT count(*) FROM task_outbox WHERE "
                                "published_at IS NULL",
                                NULL, 0),
                         0);
        /* relayed (published): the sixth is on the topic, and no more */
        memset(&ev, 0, sizeof(ev));
        assert_int_equal(km_test_read_to_end(&t.conf, t.events,
                                             "read_committed", 30000, collect,
                                             &ev),
                         6);
        assert_int_equal(ev.n, 6);

        /* show: the task with its history */
        assert_int_equal(inbox(org, &out, "show", a, NULL), 0);
        assert_non_null(strstr(out, "resolved"));
        assert_non_null(strstr(out, "history:"));
        assert_non_null(strstr(out, "acknowledged by"));
        free(out);
        (void)unique;
}

/* `komek-inbox play`: komek-gen's staff activity replayed at its own
 * times through the checked changes; refused without inbox.simulation. */
static void test_play(void **state)
{
        char path[600], line[2048], *out = NULL, id[40], sql[256];
        const char *noarg[] = {"play", path, NULL};
        const char *args[] = {"--set", "inbox.simulation=true", "play", path,
                              NULL};
        long lines = 0, checked = 0, rejected = 0;
        long applied = -1, future = -1, elsewhere = -1, refused = -1;
        json_t *before = json_object();
        PGresult *res = NULL;
        char err[512];
        FILE *fp;

        (void)state;
        snprintf(path, sizeof(path), "%s/activity.jsonl", t.datadir);
        /* a simulation backdates: refused unless asked for */
        assert_int_equal(rt_run(&t, "inbox", noarg, NULL), 2);
        /* what was open where, before */
        assert_int_equal(km_pg_exec(t.conn,
                                    "SELECT complaint_id, org_id FROM tasks "
                                    "WHERE status = 'open'",
                                    0, NULL, &res, err, sizeof(err)),
                         0);
        for (int i = 0; i < PQntuples(res); i++)
                json_object_set_new(before, PQgetvalue(res, i, 0),
                                    json_string(PQgetvalue(res, i, 1)));
        PQclear(res);
        assert_int_equal(rt_run(&t, "inbox", args, &out), 0);
        assert_int_equal(sscanf(out,
                                "play: %ld applied, %ld future, %ld "
                                "elsewhere, %ld refused",
                                &applied, &future, &elsewhere, &refused),
                         4);
        free(out);
        out = NULL;
        fp = fopen(path, "r");
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp)) {
                json_t *o = json_loads(line, 0, NULL);
                const char *act =
                        json_string_value(json_object_get(o, "action"));
                const char *org = json_string_value(json_object_get(o, "org"));
                const char *at = json_string_value(json_object_get(o, "at"));
                const char *was;
                int64_t ts;

                assert_non_null(o);
                lines++;
                km_id_derive(
                        json_string_value(json_object_get(o, "source")),
                        json_string_value(json_object_get(o, "external_id")),
                        id);
                was = json_string_value(json_object_get(before, id));
                assert_int_equal(km_parse_rfc3339(at, &ts), 0);
                if (was && strcmp(was, org) == 0 && ts <= km_wall_s()) {
                        /* an open task of that organisation: applied at its
                         * own time (an ack before its resolve: in order) */
                        const char *col =
                                !strcmp(act, "ack")       ? "acknowledged_at"
                                : !strcmp(act, "resolve") ? "resolved_at"
                                                          : NULL;

                        if (col) {
                                snprintf(
                                        sql, sizeof(sql),
                                        "SELECT extract(epoch FROM %s)::bigint "
                                        "FROM tasks WHERE complaint_id = $1",
                                        col);
                                assert_int_equal(qn(sql, id), (long)ts);
                        } else {
                                /* re-routed to triage: the sink wrote
                                 * attempt 2 (waited for), and its row */
                                assert_int_equal(
                                        wait_n("SELECT count(*) FROM tasks WHERE "
                                               "complaint_id = $1 AND attempt = 2",
                                               id, 1),
                                        1);
                                assert_int_equal(
                                        qn("SELECT count(*) FROM task_attempts WHERE "
                                           "complaint_id = $1 AND attempt = 2 AND "
                                           "org_id = 'triage'",
                                           id),
                                        1);
                                rejected++;
                        }
                        checked++;
                }
                json_decref(o);
        }
        fclose(fp);
        json_decref(before);
        assert_true(checked > 0);
        assert_int_equal(applied + future + elsewhere + refused, lines);
        assert_true(applied >= checked);
        /* played again: every change is refused by the task's state */
        assert_int_equal(rt_run(&t, "inbox", args, &out), 0);
        assert_non_null(strstr(out, "play: 0 applied"));
        free(out);
        print_message("play: %ld lines, %ld checked, %ld re-routed\n", lines,
                      checked, rejected);
}

static int setup(void **state)
{
        char group[200], sgroup[200], txn[200];
        const char *rargs[] = {"--set", group, "--set", txn, NULL};
        const char *sargs[] = {"--set", sgroup,
                               "--set", "tasksink.relay_age_ms=500",
                               "--set", "tasksink.relay_ms=200",
                               NULL};
        int unique;

        (void)state;
        if (rt_setup(&t, "inbox") ||
            rt_gen(&t, "--seed 5 --buildings 300 --ksks 20 --complaints 300 "
                       "--days 300") ||
            rt_import(&t, NULL) || rt_publish(&t, &unique) <= 0)
                return -1;
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        router = rt_spawn(&t, "router", rargs, NULL, 0);
        sink = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        if (router <= 0 || sink <= 0)
                return -1;
        if (rt_wait_count(&t, "SELECT count(*) FROM tasks", unique, 60000) !=
            unique)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        int r1 = router > 0 ? km_test_wait(router, SIGTERM, 30000) : 0;
        int r2 = sink > 0 ? km_test_wait(sink, SIGTERM, 30000) : 0;

        (void)state;
        rt_teardown(&t);
        return r1 == 0 && r2 == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_inbox),
                cmocka_unit_test(test_play),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
