/*
 * test_resubmit.c - a resubmitted complaint (same id on `complaints`
 * again) is dispatched once (workers/router/router_dedup.c), against the
 * real broker and database.  A generated set (with its own duplicates)
 * is published three times:
 *   1. before the router starts, in one transaction (router.batch_size =
 *      the set's size): the repeats inside the set are dropped as
 *      "earlier in this batch";
 *   2. after every first copy became a task: all dropped from the
 *      router's memory ("dispatched before");
 *   3. after a router restart (memory empty): the first copies dropped
 *      because they are tasks, the repeats as earlier in the batch.
 * The dispatch topic (read_committed) then holds exactly one message per
 * complaint id, tasks and task_attempts one row each, and the router's
 * summary and komek_messages_total{outcome="duplicate"} count every
 * dropped copy.  Every dispatch message's district is one of the six
 * canonical names or null.
 * A second test: the tasks check failing (table renamed) does not stop
 * routing: complaints are dispatched unchecked, counted, and the
 * failure shows in komek_pg_errors_total.
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
#include <sys/wait.h>
#include <time.h>

#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "km_test_metrics.h"

#define GEN "--seed 5 --buildings 300 --ksks 20 --complaints 300 --days 300"

static struct rt t;
static int pids[8];
static int npids;

static void forget(int pid)
{
        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
}

static void stop(int pid)
{
        forget(pid);
        assert_int_equal(km_test_wait(pid, SIGTERM, 30000), 0);
}

static int start_sink(void)
{
        char group[200];
        const char *extra[] = {"--set", group, NULL};
        int pid;

        snprintf(group, sizeof(group), "tasksink.group=%s-sink", t.schema);
        pid = rt_spawn(&t, "tasksink", extra, NULL, 0);
        assert_true(pid > 0);
        pids[npids++] = pid;
        return pid;
}

/* A router at debug level with metrics on a free port: its pid, the log
 * path into log and the metrics port into *port. */
static int start_router(int batch_size, char *log, size_t loglen, int *port)
{
        static int n;
        char group[200], txn[200], bs[64], pf[512], pfset[600];
        const char *extra[] = {"--log-level", "debug",
                               "--set",       group,
                               "--set",       txn,
                               "--set",       bs,
                               "--set",       "router.batch_ms=5000",
                               "--set",       "router.metrics_port=-1",
                               "--set",       pfset,
                               NULL};
        int pid;

        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(bs, sizeof(bs), "router.batch_size=%d", batch_size);
        snprintf(pf, sizeof(pf), "%s/router-%d.mport", t.logdir, n++);
        snprintf(pfset, sizeof(pfset), "router.metrics_port_file=%s", pf);
        pid = rt_spawn(&t, "router", extra, log, loglen);
        assert_true(pid > 0);
        pids[npids++] = pid;
        *port = km_test_metrics_port(pf, pid, 60000);
        if (*port == 0)
                fail_msg("router: no metrics port, see %s", log);
        return pid;
}

static void wait_metric(int port, const char *series, double want)
{
        double v = km_test_wait_metric(port, series, want, 60000);

        if (v != want)
                fail_msg("%s: got %g, want %g", series, v, want);
}

static void wait_counts(int port, long in, long dup)
{
        char s[512];

        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"in\"}",
                 t.complaints);
        wait_metric(port, s, (double)in);
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"duplicate\"}",
                 t.complaints);
        wait_metric(port, s, (double)dup);
}

/* Lines of a log containing s. */
static long log_lines(const char *log, const char *s)
{
        FILE *fp = fopen(log, "r");
        char line[2048];
        long n = 0;

        if (fp == NULL)
                return -1;
        while (fgets(line, sizeof(line), fp))
                if (strstr(line, s))
                        n++;
        fclose(fp);
        return n;
}

/* Two complaints of no known building, with a district spelling. */
#define ID_SARY "0b7f2c56-8a3b-4f4e-9d2a-1c9e8f7a6b51"
#define ID_NONE "0b7f2c56-8a3b-4f4e-9d2a-1c9e8f7a6b52"

static void publish_districts(void)
{
        static const char *const js[2] = {
                "{\"schema_version\":1,\"id\":\"" ID_SARY "\",\"source\":"
                "\"test\",\"received_at\":\"2026-03-01T10:00:00Z\","
                "\"category\":\"heating\",\"description\":\"холодно\","
                "\"address\":{\"district\":\"Сарыаркинский район\","
                "\"text\":\"нет такого дома\"}}",
                "{\"schema_version\":1,\"id\":\"" ID_NONE "\",\"source\":"
                "\"test\",\"received_at\":\"2026-03-01T10:00:00Z\","
                "\"category\":\"heating\",\"description\":\"холодно\","
                "\"address\":{\"district\":\"Кулан\","
                "\"text\":\"нет такого дома\"}}",
        };

        for (int i = 0; i < 2; i++)
                assert_int_equal(rt_produce_raw(&t, t.complaints, "x", js[i],
                                                strlen(js[i])),
                                 0);
}

/* What the dispatch topic holds: messages, distinct complaint ids. */
struct seen {
        char **ids;
        size_t n, cap;
        int bad_district, bad_json, with_district;
        char sary[64], none[64]; /* district of ID_SARY, ID_NONE */
};

static int seen_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        static const char *const six[] = {"Алматы", "Байконур", "Есиль",
                                          "Нура",   "Сарыарка", "Сарайшык"};
        struct seen *s = opaque;
        json_t *m = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(m, "complaint_id"));
        json_t *d = json_object_get(m, "district");

        if (id == NULL) {
                s->bad_json++;
        } else {
                if (s->n == s->cap)
                        s->ids =
                                km_xrealloc(s->ids, (s->cap = 2 * s->cap + 64) *
                                                            sizeof(char *));
                s->ids[s->n++] = km_xstrdup(id);
        }
        if (id && (strcmp(id, ID_SARY) == 0 || strcmp(id, ID_NONE) == 0))
                snprintf(strcmp(id, ID_SARY) == 0 ? s->sary : s->none, 64, "%s",
                         json_is_string(d) ? json_string_value(d) : "null");
        if (json_is_string(d)) {
                int ok = 0;

                for (int i = 0; i < 6; i++)
                        ok |= strcmp(json_string_value(d), six[i]) == 0;
                s->bad_district += !ok;
                s->with_district++;
        } else if (!json_is_null(d)) {
                s->bad_district++;
        }
        json_decref(m);
        return 0;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t seen_distinct(struct seen *s)
{
        size_t d = 0;

        qsort(s->ids, s->n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < s->n; i++)
                if (i == 0 || strcmp(s->ids[i], s->ids[i - 1]) != 0)
                        d++;
        return d;
}

static void seen_free(struct seen *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->ids[i]);
        free(s->ids);
}

static void test_resubmissions(void **state)
{
        char log1[512], log2[512];
        int p, u, p2, p3, router, sink, port;
        struct seen s = {0};
        int got;

        (void)state;
        assert_int_equal(rt_gen(&t, GEN), 0);
        assert_int_equal(rt_import(&t, NULL), 0);
        /* 1. the set, its own repeats included, in one transaction */
        p = rt_publish(&t, &u);
        assert_true(p > 250 && u < p);
        publish_districts();
        sink = start_sink();
        router = start_router(p + 2, log1, sizeof(log1), &port);
        assert_int_equal(
                rt_wait_count(&t, "SELECT count(*) FROM tasks", u + 2, 60000),
                u + 2);
        wait_counts(port, p + 2, p - u);
        /* 2. again, in a later transaction: the router remembers */
        p2 = rt_publish(&t, NULL);
        assert_int_equal(p2, p);
        wait_counts(port, 2L * p + 2, 2L * p - u);
        stop(router);
        assert_int_equal(rt_log_number(log1, "dispatched "), u + 2);
        assert_int_equal(rt_log_number(log1, "duplicates "), 2L * p - u);
        assert_int_equal(rt_log_number(log1, "in tasks "), 0);
        assert_int_equal(log_lines(log1, "duplicate (earlier in this batch)"),
                         p - u);
        assert_int_equal(log_lines(log1, "duplicate (dispatched before)"), p);

        /* 3. after a restart: the tasks table knows them */
        router = start_router(p, log2, sizeof(log2), &port);
        p3 = rt_publish(&t, NULL);
        assert_int_equal(p3, p);
        wait_counts(port, p, p);
        stop(router);
        assert_int_equal(rt_log_number(log2, "dispatched "), 0);
        assert_int_equal(rt_log_number(log2, "in tasks "), u);
        assert_int_equal(rt_log_number(log2, "in memory "), p - u);
        assert_int_equal(rt_log_number(log2, "unchecked "), 0);

        /* one dispatch message per complaint id, one task, one attempt */
        /* the router has stopped: the topic's end holds all it made */
        got = (int)km_test_read_to_end(&t.conf, t.dispatch, "read_committed",
                                       30000, seen_cb, &s);
        if (got != u + 2)
                fail_msg("dispatch: %d messages, want %d", got, u + 2);
        assert_int_equal(s.bad_json, 0);
        assert_int_equal(seen_distinct(&s), (size_t)u + 2);
        assert_int_equal(s.bad_district, 0);
        assert_true(s.with_district > 0);
        /* no building: the complaint's district, canonical or null */
        assert_string_equal(s.sary, "Сарыарка");
        assert_string_equal(s.none, "null");
        seen_free(&s);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), u + 2);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM task_attempts"),
                         u + 2);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks WHERE "
                                      "district IS NOT NULL AND district NOT "
                                      "IN ('Алматы', 'Байконур', 'Есиль', "
                                      "'Нура', 'Сарыарка', 'Сарайшык')"),
                         0);
        stop(sink);
}

/* The tasks check failing: routing goes on, unchecked and counted. */
static void test_check_fails_open(void **state)
{
        char log[512], s[512];
        int p, u, router, port;

        (void)state;
        assert_int_equal(rt_gen(&t, "--seed 3 --buildings 100 --ksks 5 "
                                    "--complaints 60 --days 30"),
                         0);
        assert_int_equal(rt_import(&t, NULL), 0);
        {
                PGresult *res = PQexec(t.conn, "ALTER TABLE tasks RENAME TO "
                                               "tasks_off");

                assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
                PQclear(res);
        }
        p = rt_publish(&t, &u);
        assert_true(p > 40);
        router = start_router(p, log, sizeof(log), &port);
        wait_counts(port, p, p - u); /* only the repeats in the batch */
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"out\"}",
                 t.dispatch);
        wait_metric(port, s, u);
        assert_true(km_test_metric(port, "komek_pg_errors_total"
                                         "{kind=\"fatal\"}") >= 1);
        stop(router);
        assert_int_equal(rt_log_number(log, "unchecked "), u);
        assert_int_equal(log_lines(log, "duplicate check in tasks failed"), 1);
        assert_int_equal(km_test_read_to_end(&t.conf, t.dispatch,
                                             "read_committed", 30000, NULL,
                                             NULL),
                         u);
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        return rt_setup(&t, "resub");
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_resubmissions, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_check_fails_open, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
