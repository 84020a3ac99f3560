/*
 * test_pipeline.c - komek-router and komek-tasksink against the real
 * broker and database, each test with its own topics, groups,
 * transactional ids and schema:
 *   - every complaint of a generated set becomes exactly one task, at the
 *     organisation the generator's truth gives (truth.csv: its building,
 *     its category; buildings.csv: that building's KSK or lift operator;
 *     triage when unknown), checked complaint by complaint; expected counts
 *     come from truth.csv, never from the model under test; the dispatch
 *     topic holds exactly one message per complaint id, the set's own
 *     repeats dropped (read_committed); invalid messages go to the
 *     dead-letter topic;
 *   - the same with two routers in one group, the second joining while
 *     the first works (a rebalance loses nothing; a repeat whose partition
 *     moved before its first copy was a task may be dispatched again);
 *   - SIGKILL of a router with a batch open: the committed view of
 *     dispatch, read to its end, is empty, so no task can come of the open
 *     batch; restart: still exactly one dispatch message and one task per
 *     complaint;
 *   - the set published again is dropped by the router (nothing new on
 *     dispatch), and a full re-delivery of `dispatch` to the sink changes
 *     nothing;
 *   - a directory import reaches a running router without a restart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "km_test_metrics.h"

#define GEN "--seed 11 --buildings 2000 --ksks 100 --complaints 3000 --days 300"

static struct rt t;
static struct rt_truth truth;
static int pids[8];
static int npids;

static int start(const char *prog, const char *const *extra, char *log,
                 size_t loglen)
{
        int pid = rt_spawn(&t, prog, extra, log, loglen);

        assert_true(pid > 0);
        pids[npids++] = pid;
        return pid;
}

static void stop(int pid)
{
        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
        assert_int_equal(km_test_wait(pid, SIGTERM, 30000), 0);
}

/* mport NULL-able: metrics on a free port, the port into *mport */
static int start_router(int instance, const char *batch_size,
                        const char *batch_ms, char *log, size_t loglen,
                        int *mport)
{
        static int n;
        char group[200], txn[200], bs[64], bm[64], pf[512], pfset[600];
        const char *extra[] = {"--set",
                               group,
                               "--set",
                               txn,
                               "--set",
                               bs,
                               "--set",
                               bm,
                               "--set",
                               "router.reload_ms=300",
                               mport ? "--set" : NULL,
                               "router.metrics_port=-1",
                               "--set",
                               pfset,
                               NULL};
        int pid;

        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt-%d", t.schema,
                 instance);
        snprintf(bs, sizeof(bs), "router.batch_size=%s", batch_size);
        snprintf(bm, sizeof(bm), "router.batch_ms=%s", batch_ms);
        snprintf(pf, sizeof(pf), "%s/router-%d.mport", t.logdir, n++);
        snprintf(pfset, sizeof(pfset), "router.metrics_port_file=%s", pf);
        pid = start("router", extra, log, loglen);
        if (mport && (*mport = km_test_metrics_port(pf, pid, 60000)) == 0)
                fail_msg("router: no metrics port in %s", pf);
        return pid;
}

static int start_sink(void)
{
        char group[200];
        const char *extra[] = {"--set", group, "--set",
                               "tasksink.relay_age_ms=500", NULL};

        snprintf(group, sizeof(group), "tasksink.group=%s-sink", t.schema);
        return start("tasksink", extra, NULL, 0);
}

/* Committed dispatch messages once the routers are drained: their group
 * committed every complaint (in the transactions that produced the
 * dispatch messages), so nothing more can come; read to the end. */
static long dispatch_final(void)
{
        char group[200];

        snprintf(group, sizeof(group), "%s-router", t.schema);
        assert_int_equal(rt_group_drained(&t, group, t.complaints, 60000), 0);
        return rt_committed_to_end(&t, t.dispatch, 60000);
}

static int dispatch_count(const char *isolation, int want, int settle_ms)
{
        return km_test_read_topic(&t.conf, t.dispatch, isolation, want, 60000,
                                  settle_ms, NULL, NULL);
}

/* Three messages no intake would publish: each must be dead-lettered. */
static void publish_garbage(void)
{
        static const char *const bad[] = {
                "{not json",
                "{\"schema_version\":1,\"id\":\"6f1c2a4e-8b1d-4c3e-9a70-6b6f6d656b31\"}",
                "\xff\xfe invalid utf-8",
        };

        for (int i = 0; i < 3; i++)
                assert_int_equal(rt_produce_raw(&t, t.complaints, "x", bad[i],
                                                strlen(bad[i])),
                                 0);
}

/* The generated set and its truth; the publisher (intake's parse) must
 * agree with the truth on what is valid and what is distinct. */
static void gen_and_import(const char *args)
{
        assert_int_equal(rt_gen(&t, args), 0);
        assert_int_equal(rt_import(&t, NULL), 0);
        assert_int_equal(rt_truth_load(&t, &truth), 0);
        printf("truth: %zu lines, %zu valid, %zu distinct, %zu invalid\n",
               truth.lines, truth.valid, truth.n, truth.invalid);
}

/* every distinct valid complaint is one task at its true organisation */
static void check_tasks(void)
{
        long unique = (long)truth.n;
        long n = rt_wait_count(&t, "SELECT count(*) FROM tasks", unique, 60000);

        if (n != unique)
                fail_msg("tasks: %ld, want %ld (truth.csv)", n, unique);
        assert_int_equal(rt_truth_check_tasks(&t, &truth), 0);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM task_attempts"),
                         unique);
        /* every task has an organisation of the directory */
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks t LEFT JOIN "
                                      "organisations o ON o.id = t.org_id "
                                      "WHERE o.id IS NULL OR o.kind <> "
                                      "t.org_kind"),
                         0);
        /* the set exercises triage and lift operators (from the truth) */
        assert_true(truth.triage > 0 && truth.lift > 0);
        assert_true(rt_count(&t, "SELECT count(*) FROM tasks WHERE org_id = "
                                 "'triage' AND route_reason = "
                                 "'unknown_building'") > 0);
}

static void test_one_router(void **state)
{
        int published, unique, router, sink, got;

        (void)state;
        gen_and_import(GEN);
        published = rt_publish(&t, &unique);
        assert_int_equal(published, truth.valid);
        assert_int_equal(unique, truth.n);
        assert_true(truth.n < truth.valid); /* the set has duplicates */
        publish_garbage();
        sink = start_sink();
        router = start_router(1, "500", "200", NULL, 0, NULL);
        check_tasks();
        /* the repeats in the set are not dispatched again */
        got = (int)dispatch_final();
        if (got != unique)
                fail_msg("dispatch: %d messages, want %d", got, unique);
        /* the router is drained: its dead letters (in the same
         * transactions) are all committed; read to the end */
        got = (int)rt_committed_to_end(&t, t.dlq, 30000);
        assert_int_equal(got, 3);
        stop(router);
        stop(sink);
}

static void test_two_routers(void **state)
{
        int published, unique, r1, r2, sink, got, half;
        char log1[512], log2[512];
        long c1, c2;

        (void)state;
        gen_and_import(GEN);
        half = rt_publish_range(&t, 0, 1500, NULL);
        assert_int_equal(half, 1500);
        sink = start_sink();
        /* small batches: the second router joins while the first works */
        r1 = start_router(1, "50", "100", log1, sizeof(log1), NULL);
        assert_true(rt_wait_count(&t, "SELECT least(count(*), 1) FROM tasks", 1,
                                  30000) == 1);
        r2 = start_router(2, "50", "100", log2, sizeof(log2), NULL);
        /* the second half goes out once router 2 holds partitions, so
         * it has work whatever router 1 finished meanwhile */
        {
                int64_t deadline = km_now_ms() + 60000;

                while (rt_log_number(log2, "assigned ") <= 0 &&
                       km_now_ms() < deadline) {
                        struct timespec ts = {0, 50 * 1000000L};

                        nanosleep(&ts, NULL);
                }
                assert_true(rt_log_number(log2, "assigned ") > 0);
        }
        published = half + rt_publish_range(&t, 1500, -1, &unique);
        assert_int_equal(published, truth.valid);
        assert_int_equal(unique, truth.n);
        check_tasks();
        /* every id once; a repeat whose partition moved to the other
         * router before its first copy was a task may come twice (the
         * documented window), never more than published */
        got = (int)dispatch_final();
        printf("dispatch: %d messages for %d complaints (%d published)\n", got,
               unique, published);
        if (got < unique || got > published)
                fail_msg("dispatch: %d messages, want %d..%d", got, unique,
                         published);
        stop(r2);
        stop(r1);
        stop(sink);
        c1 = rt_log_number(log1, "consumed ");
        c2 = rt_log_number(log2, "consumed ");
        printf("router 1 consumed %ld, router 2 consumed %ld\n", c1, c2);
        assert_true(c1 > 0 && c2 > 0);
        /* a rebalance may redo an aborted batch, never commit it twice */
        assert_true(c1 + c2 >= published);
}

static void test_sigkill(void **state)
{
        int published, unique, router, sink, got;

        (void)state;
        gen_and_import(GEN);
        published = rt_publish(&t, &unique);
        assert_int_equal(published, truth.valid);
        assert_int_equal(unique, truth.n);
        assert_true(published > unique); /* repeats: dropped on dispatch */
        sink = start_sink();
        /* one transaction of up to 100000 messages, open for 60 s (it is
         * checked and produced every 2,000 complaints; the broker keeps it
         * open for 120 s) */
        {
                char group[200], txn[200];
                const char *args[] = {"--set", group,
                                      "--set", txn,
                                      "--set", "router.batch_size=100000",
                                      "--set", "router.batch_ms=60000",
                                      "--set", "router.txn_timeout_ms=120000",
                                      "--set", "router.metrics_port=-1",
                                      NULL};

                snprintf(group, sizeof(group), "router.group=%s-router",
                         t.schema);
                snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt-1",
                         t.schema);
                router = start("router", args, NULL, 0);
        }
        /* the batch is open: its messages are in the log, uncommitted */
        got = dispatch_count("read_uncommitted", 1000, 0);
        assert_true(got >= 1000);
        for (int i = 0; i < npids; i++)
                if (pids[i] == router)
                        pids[i] = 0;
        assert_int_equal(km_test_wait(router, SIGKILL, 10000), 128 + SIGKILL);
        /* Nothing of the open batch is visible: the committed view of
         * dispatch, read to its end (the last stable offset) on every
         * partition, holds nothing, so the sink has nothing to write (a
         * batch committed before the kill would be read here, not missed
         * by looking too early); and no task exists. */
        assert_int_equal(rt_committed_to_end(&t, t.dispatch, 60000), 0);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), 0);
        /* the same transactional id fences and aborts the leftover */
        router = start_router(1, "500", "200", NULL, 0, NULL);
        check_tasks();
        /* the reader that found the open batch empty reads committed
         * messages when there are some (it cannot pass by seeing nothing) */
        got = (int)dispatch_final();
        if (got != unique)
                fail_msg("dispatch: %d committed messages, want %d", got,
                         unique);
        got = dispatch_count("read_uncommitted", unique + 1000, 0);
        assert_true(got >= unique + 1000); /* the aborted ones */
        stop(router);
        stop(sink);
}

/* The set published again is dropped by the router; a re-delivery of all
 * of dispatch changes nothing; an import reaches the running router. */
static void test_redelivery_and_reload(void **state)
{
        int published, unique, router, sink, mport;
        long before, after, end;
        char series[512];
        char *out = NULL, rlog[512];
        const char sum[] = "SELECT hashtext(string_agg(complaint_id::text || "
                           "attempt || org_id || status || updated_at::text, "
                           "',' ORDER BY complaint_id)) FROM tasks";

        (void)state;
        gen_and_import("--seed 5 --buildings 300 --ksks 20 "
                       "--complaints 300 --days 300");
        published = rt_publish(&t, &unique);
        assert_int_equal(published, truth.valid);
        assert_int_equal(unique, truth.n);
        sink = start_sink();
        router = start_router(1, "500", "200", rlog, sizeof(rlog), &mport);
        check_tasks();
        /* the same complaints again: read, dropped, nothing dispatched */
        assert_int_equal(rt_publish(&t, NULL), published);
        snprintf(series, sizeof(series),
                 "komek_messages_total{topic=\"%s\",outcome=\"in\"}",
                 t.complaints);
        assert_true(km_test_wait_metric(mport, series, 2 * published, 60000) ==
                    2 * published);
        snprintf(series, sizeof(series),
                 "komek_messages_total{topic=\"%s\",outcome=\"duplicate\"}",
                 t.complaints);
        assert_true(km_test_metric(mport, series) == 2 * published - unique);
        assert_int_equal(dispatch_final(), unique);
        before = rt_count(&t, sum);
        stop(sink);
        /* forget the sink's offsets: everything is delivered again */
        end = rt_count(&t, "SELECT sum(next_offset) FROM consumer_offsets");
        assert_true(end >= unique);
        assert_true(rt_count(&t, "WITH d AS (DELETE FROM consumer_offsets "
                                 "RETURNING 1) SELECT count(*) FROM d") > 0);
        sink = start_sink();
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT sum(next_offset) FROM "
                                       "consumer_offsets",
                                       end, 60000),
                         end);
        after = rt_count(&t, sum);
        assert_int_equal(after, before);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), unique);

        /* reload: a building moves to another KSK; the running router uses
         * the new directory for the next complaint.  The router routes by
         * received_at (issue 17), so the handover is effective before the
         * complaint arrived (2026-03-01 10:00Z; a date-only --effective is
         * local midnight, UTC+5) */
        {
                char path[600];
                FILE *fp;
                const char *args[] = {"--effective", "2026-03-01", "import",
                                      t.datadir, NULL};
                const char *js =
                        "{\"schema_version\":1,\"id\":"
                        "\"0b7f2c56-8a3b-4f4e-9d2a-1c9e8f7a6b50\",\"source\":"
                        "\"test\",\"received_at\":\"2026-03-01T10:00:00Z\","
                        "\"category\":\"heating\",\"description\":\"холодно\","
                        "\"address\":{\"text\":\"x\"},\"building_id\":"
                        "\"b-000001\"}";

                snprintf(path, sizeof(path), "%s/organisations.csv", t.datadir);
                fp = fopen(path, "a");
                assert_non_null(fp);
                fputs("ksk-new,ksk,КСК «Новый»,,\n", fp);
                fclose(fp);
                snprintf(path, sizeof(path),
                         "sed -i 's/^\\(b-000001,[^,]*,[^,]*,[^,]*,[^,]*,\\)"
                         "[^,]*/\\1ksk-new/' '%s/buildings.csv'",
                         t.datadir);
                assert_int_equal(system(path), 0);
                assert_int_equal(rt_run(&t, "directory", args, &out), 0);
                assert_non_null(strstr(out, "1 changed"));
                free(out);
                /* the router notices the new version by itself */
                {
                        int64_t deadline = km_now_ms() + 20000;

                        while (rt_log_number(rlog, "directory version ") != 2 &&
                               km_now_ms() < deadline) {
                                struct timespec ts = {0, 50 * 1000000L};

                                nanosleep(&ts, NULL); /* polling the log */
                        }
                        assert_int_equal(
                                rt_log_number(rlog, "directory version "), 2);
                }
                assert_int_equal(rt_produce_raw(&t, t.complaints, "b-000001",
                                                js, strlen(js)),
                                 0);
                assert_int_equal(
                        rt_wait_count(&t,
                                      "SELECT count(*) FROM tasks WHERE "
                                      "complaint_id = "
                                      "'0b7f2c56-8a3b-4f4e-9d2a-1c9e8f7a6b50' "
                                      "AND org_id = 'ksk-new'",
                                      1, 30000),
                        1);
        }
        stop(router);
        stop(sink);
}

/* The longest description the model accepts (4,000 code points) in 4-byte
 * UTF-8 (16,000 bytes) becomes a task, byte for byte: the sink accepts
 * everything the model does (it once had its own 8,192-byte limit and
 * dropped such a complaint). */
static void test_largest_description(void **state)
{
        static const char head[] =
                "{\"schema_version\":1,\"id\":"
                "\"3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a\",\"source\":"
                "\"test\",\"received_at\":\"2026-03-01T10:00:00Z\","
                "\"category\":\"heating\",\"address\":{\"text\":\"x\"},"
                "\"building_id\":\"b-000001\",\"description\":\"";
        char *js, *q, *desc, *p;
        int router, sink;
        const char *param[1];
        PGresult *res;

        (void)state;
        assert_int_equal(rt_gen(&t, GEN), 0);
        assert_int_equal(rt_import(&t, NULL), 0);
        desc = km_xmalloc(4000 * 4 + 1);
        for (p = desc; p < desc + 4000 * 4; p += 4)
                memcpy(p, "\xf0\x9f\x98\x80", 4); /* U+1F600 */
        *p = '\0';
        js = km_xasprintf("%s%s\"}", head, desc);
        sink = start_sink();
        router = start_router(1, "500", "200", NULL, 0, NULL);
        assert_int_equal(
                rt_produce_raw(&t, t.complaints, "b-000001", js, strlen(js)),
                0);
        q = "SELECT count(*) FROM tasks WHERE complaint_id = "
            "'3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a'";
        assert_int_equal(rt_wait_count(&t, q, 1, 30000), 1);
        param[0] = desc;
        res = PQexecParams(t.conn,
                           "SELECT octet_length(description), description = $1 "
                           "FROM tasks WHERE complaint_id = "
                           "'3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a'",
                           1, NULL, param, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        assert_int_equal(PQntuples(res), 1);
        assert_string_equal(PQgetvalue(res, 0, 0), "16000");
        assert_string_equal(PQgetvalue(res, 0, 1), "t");
        PQclear(res);
        free(js);
        free(desc);
        stop(router);
        stop(sink);
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        return rt_setup(&t, "pipe");
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        rt_truth_free(&truth);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_largest_description, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_one_router, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_two_routers, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sigkill, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redelivery_and_reload,
                                                setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
