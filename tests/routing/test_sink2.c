/*
 * test_sink2.c - komek-tasksink's set-based write (issue 13) against the
 * real broker and database, dispatch messages produced straight to the
 * test's topic (six partitions):
 *   - two sinks in one consumer group, the second joining while the first
 *     works and the first leaving later: one task per complaint, its
 *     highest attempt; one task_attempts row per (complaint, attempt);
 *     the stored offsets end at every partition's end; "new tasks" of the
 *     two logs add up to the complaints (no row written twice).  Repeats
 *     and re-routes of a complaint sit on other partitions than its first
 *     message, so the two sinks race on the same rows;
 *   - the same when a sink is killed (SIGKILL) with batches open and two
 *     others take over;
 *   - the database gone while the sink writes (its session terminated, a
 *     new one refused for a while): the failed batch is read again from
 *     the stored offsets, none is skipped;
 *   - one batch with two rows PostgreSQL refuses among 200: exactly those
 *     two are dead-lettered (the batch is split to find them), the 198
 *     others are written; descriptions with COPY's special bytes (tab,
 *     newline, backslash) arrive intact, and the complaint and contact
 *     stored are the ones sent (also under an escaped key).
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
#include <time.h>

#include "km_kafka.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

#define N 2000  /* complaints of the two-sink tests */
#define NPART 6 /* partitions of t.dispatch (rt_setup) */

static struct rt t;
static int pids[4];
static int npids;
static char group[200];

static void complaint_id(int i, char *buf, size_t len)
{
        snprintf(buf, len, "%08x-0000-4000-8000-%012x", 0x5172u, (unsigned)i);
}

/* A dispatch message as the router writes it. */
static char *dispatch_msg(int i, int attempt, const char *received_at,
                          const char *description)
{
        char id[40], org[32];
        json_t *o;
        char *s;

        complaint_id(i, id, sizeof(id));
        snprintf(org, sizeof(org), "org-%d", i % 17);
        o = json_pack("{s:i,s:s,s:i,s:s,s:s,s:n,s:s,s:s,s:s,s:s,s:s,s:s,"
                      "s:{s:s,s:{s:s},s:{s:s,s:s}}}",
                      "schema_version", 1, "complaint_id", id, "attempt",
                      attempt, "org_id", attempt == 1 ? org : "triage",
                      "org_kind", attempt == 1 ? "ksk" : "triage",
                      "building_id", "district", "almaly", "category",
                      "heating", "received_at", received_at, "routed_at",
                      "2026-03-01T10:00:01Z", "due_at", "2026-03-02T10:00:00Z",
                      "route_reason", attempt == 1 ? "building" : "rejected",
                      "complaint", "description", description, "address",
                      "text", "Abay 1", "contact", "name", "Aigerim", "phone",
                      "+77010000000");
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

struct batch {
        rd_kafka_t *rk;
        struct km_kafka_counts counts;
        int n;
};

static void produce_open(struct batch *b)
{
        char err[512];

        memset(b, 0, sizeof(*b));
        b->rk = km_kafka_producer_new(&t.conf, NULL, &b->counts, err,
                                      sizeof(err));
        if (b->rk == NULL)
                fail_msg("producer: %s", err);
}

static void produce(struct batch *b, int partition, char *msg)
{
        char err[512];

        if (km_kafka_produce(b->rk, t.dispatch, partition, "k", msg,
                             strlen(msg), &b->counts, 30000, err, sizeof(err)))
                fail_msg("produce: %s", err);
        free(msg);
        b->n++;
}

static void produce_close(struct batch *b)
{
        char err[512];

        if (km_kafka_flush(b->rk, 60000, err, sizeof(err)))
                fail_msg("flush: %s", err);
        assert_int_equal(b->counts.delivered, b->n);
        rd_kafka_destroy(b->rk);
}

/* Complaints [lo, hi): attempt 1 on partition i % 6; a repeat of it on
 * the next partition for every 4th; a re-route (attempt 2) three
 * partitions on for every 5th.  @returns the messages produced. */
static int produce_range(int lo, int hi)
{
        struct batch b;
        int n;

        produce_open(&b);
        for (int i = lo; i < hi; i++) {
                produce(&b, i % NPART,
                        dispatch_msg(i, 1, "2026-03-01T10:00:00Z", "cold"));
                if (i % 4 == 0)
                        produce(&b, (i + 1) % NPART,
                                dispatch_msg(i, 1, "2026-03-01T10:00:00Z",
                                             "cold"));
                if (i % 5 == 0)
                        produce(&b, (i + 3) % NPART,
                                dispatch_msg(i, 2, "2026-03-01T10:00:00Z",
                                             "cold"));
        }
        produce_close(&b);
        n = b.n;
        return n;
}

static int start_sink(const char *batch_size, char *log, size_t loglen)
{
        char g[260], bs[64];
        const char *extra[] = {
                "--set", g, "--set", bs, "--set", "tasksink.batch_ms=50", NULL};
        int pid;

        snprintf(g, sizeof(g), "tasksink.group=%s", group);
        snprintf(bs, sizeof(bs), "tasksink.batch_size=%s", batch_size);
        pid = rt_spawn(&t, "tasksink", extra, log, loglen);
        assert_true(pid > 0);
        pids[npids++] = pid;
        return pid;
}

static void stop(int pid, int sig)
{
        int rc;

        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
        rc = km_test_wait(pid, sig, 30000);
        if (sig == SIGTERM)
                assert_int_equal(rc, 0);
}

/* Until the log has a "key N" line with N > 0, or the deadline. */
static long wait_log(const char *log, const char *key, int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;
        long v;

        while ((v = rt_log_number(log, key)) <= 0 && km_now_ms() < deadline) {
                /* polling the log against the deadline */
                struct timespec ts = {0, 100 * 1000000L};

                nanosleep(&ts, NULL);
        }
        return v;
}

/* The database holds exactly what complaints [0, n) must leave. */
static void check_exact(int n, int produced)
{
        char sql[512];
        long reroutes = 0, got;

        for (int i = 0; i < n; i++)
                reroutes += i % 5 == 0;
        got = rt_wait_count(&t, "SELECT count(*) FROM tasks", n, 90000);
        if (got != n)
                fail_msg("tasks: %ld, want %d", got, n);
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                 "WHERE consumer = '%s' AND topic = '%s'",
                 group, t.dispatch);
        got = rt_wait_count(&t, sql, produced, 90000);
        if (got != produced)
                fail_msg("stored offsets add up to %ld, want %d", got,
                         produced);
        /* the re-routes won, wherever they were read */
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT count(*) FROM tasks WHERE "
                                       "attempt = 2 AND org_id = 'triage'",
                                       reroutes, 30000),
                         reroutes);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks WHERE "
                                      "attempt = 1 AND org_id = 'triage'"),
                         0);
        assert_int_equal(rt_wait_count(&t, "SELECT count(*) FROM task_attempts",
                                       n + reroutes, 30000),
                         n + reroutes);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks WHERE "
                                      "contact->>'phone' = '+77010000000' AND "
                                      "complaint->>'description' = 'cold' AND "
                                      "address = 'Abay 1'"),
                         n);
}

/* Dead letters on t.dlq, read to its end: call it after every sink has
 * exited, so that nothing more can arrive (no settle time decides it). */
static long dlq_count(void)
{
        return rt_committed_to_end(&t, t.dlq, 30000);
}

static void test_two_sinks(void **state)
{
        char log1[512], log2[512];
        int s1, s2, produced;
        long new1, new2, c1, c2;

        (void)state;
        produced = produce_range(0, N / 2);
        s1 = start_sink("25", log1, sizeof(log1));
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT least(count(*), 1) FROM tasks",
                                       1, 60000),
                         1);
        /* the second joins while the first works */
        s2 = start_sink("25", log2, sizeof(log2));
        assert_true(wait_log(log2, "assigned ", 60000) > 0);
        produced += produce_range(N / 2, N);
        check_exact(N, produced);
        /* the first leaves; the second takes everything over */
        stop(s1, SIGTERM);
        produced += produce_range(0, N / 10); /* all repeats now */
        check_exact(N, produced);
        stop(s2, SIGTERM);
        new1 = rt_log_number(log1, "new tasks ");
        new2 = rt_log_number(log2, "new tasks ");
        c1 = rt_log_number(log1, "consumed ");
        c2 = rt_log_number(log2, "consumed ");
        printf("sink 1: consumed %ld, new %ld; sink 2: consumed %ld, new %ld\n",
               c1, new1, c2, new2);
        assert_true(c1 > 0 && c2 > 0);
        assert_true(c1 + c2 >= produced);
        assert_int_equal(new1 + new2, N);
        assert_int_equal(dlq_count(), 0);
}

static void test_sink_killed(void **state)
{
        int s1, s2, s3, produced;

        (void)state;
        produced = produce_range(0, N);
        s1 = start_sink("10", NULL, 0);
        assert_true(rt_wait_count(&t, "SELECT least(count(*), 200) FROM tasks",
                                  200, 60000) == 200);
        stop(s1, SIGKILL);
        s2 = start_sink("50", NULL, 0);
        s3 = start_sink("50", NULL, 0);
        check_exact(N, produced);
        stop(s2, SIGTERM);
        stop(s3, SIGTERM);
        assert_int_equal(dlq_count(), 0);
}

/* Lines of log holding s. */
static int log_lines(const char *log, const char *s)
{
        FILE *fp = fopen(log, "r");
        char line[2048];
        int n = 0;

        if (fp == NULL)
                return 0;
        while (fgets(line, sizeof(line), fp))
                n += strstr(line, s) != NULL;
        fclose(fp);
        return n;
}

static void connect_allowed(int yes)
{
        rt_count(&t, yes ? "DO $$ BEGIN EXECUTE format('GRANT CONNECT ON "
                           "DATABASE %I TO PUBLIC', current_database()); "
                           "END $$"
                         : "DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON "
                           "DATABASE %I FROM PUBLIC', current_database()); "
                           "END $$");
}

/* The database gone from under the sink while it writes: its session
 * terminated, and no new one possible (CONNECT revoked from its login
 * role) until the sink has failed a batch, tried its rewind twice and
 * failed no batch for 2 s.
 * Then the database is back, and every task is there: the failed batch
 * was read again from the stored offsets.  (A sink that read on after a
 * failed rewind committed later batches' offsets past the one it lost.) */
static void test_database_lost(void **state)
{
        char log[512];
        int s1, produced, tries = 0;
        long before, killed;
        int64_t deadline;

        (void)state;
        produced = produce_range(0, N);
        s1 = start_sink("10", log, sizeof(log));
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT least(count(*), 200) FROM "
                                       "tasks",
                                       200, 60000),
                         200);
        connect_allowed(0);
        killed = rt_count(&t, "SELECT count(pg_terminate_backend(pid)) FROM "
                              "pg_stat_activity WHERE application_name = "
                              "'komek-tasksink' AND datname = "
                              "current_database()");
        before = rt_count(&t, "SELECT count(*) FROM tasks");
        /* the outage observed: a batch failed, its rewind twice */
        deadline = km_now_ms() + 30000;
        while ((tries = log_lines(log, "rewind: ")) < 2 &&
               km_now_ms() < deadline) {
                struct timespec ts = {0, 100 * 1000000L};

                nanosleep(&ts, NULL);
        }
        /* and until no batch failed for 2 s: a sink that reads on has
         * read the topic to its end, one that waits for its rewind does
         * not fail batches any more (its rewinds fail, 2 a second) */
        for (int last = -1, quiet = 0; quiet < 20 && km_now_ms() < deadline;) {
                struct timespec ts = {0, 100 * 1000000L};
                int n = log_lines(log, "rolled back");

                quiet = n == last ? quiet + 1 : 0;
                last = n;
                nanosleep(&ts, NULL);
        }
        tries = log_lines(log, "rewind: ");
        connect_allowed(1);
        printf("sessions terminated %ld with %ld of %d tasks written; "
               "rewinds failed %d times\n",
               killed, before, N, tries);
        assert_true(killed >= 1);
        assert_true(before < N);
        assert_true(tries >= 2);
        assert_true(log_lines(log, "rolled back") >= 1);
        check_exact(N, produced);
        stop(s1, SIGTERM);
        assert_int_equal(dlq_count(), 0);
}

struct got {
        int n;
        long long offsets[4];
};

static int on_dlq(const rd_kafka_message_t *rkm, void *opaque)
{
        struct got *g = opaque;
        json_t *body = json_loadb(rkm->payload, rkm->len, 0, NULL);
        json_t *origin = json_object_get(body, "origin");

        if (g->n < 4)
                g->offsets[g->n] = (long long)json_integer_value(
                        json_object_get(origin, "offset"));
        g->n++;
        assert_string_equal(json_string_value(json_object_get(body, "reason")),
                            "refused");
        json_decref(body);
        return 0;
}

/* One stored value (text) of a complaint, "" when none. */
static void task_field(int i, const char *expr, char *buf, size_t len)
{
        char id[40], sql[256];
        const char *p[1] = {id};
        PGresult *res = NULL;
        char err[512];

        complaint_id(i, id, sizeof(id));
        snprintf(sql, sizeof(sql),
                 "SELECT %s FROM tasks WHERE complaint_id = $1", expr);
        if (km_pg_exec(t.conn, sql, 1, p, &res, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
        snprintf(buf, len, "%s",
                 PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
}

static void test_refused_rows_split(void **state)
{
        static const char special[] = "tab\there\nnew line \\ back \"q\" "
                                      "\xc3\xa9 \\N end";
        char log[512], buf[512];
        struct batch b;
        struct got g;
        int pid;

        (void)state;
        memset(&g, 0, sizeof(g));
        produce_open(&b);
        for (int i = 0; i < 200; i++) {
                const char *at = i == 37 || i == 150 ? "0000-03-01T10:00:00Z"
                                                     : "2026-03-01T10:00:00Z";

                if (i == 99) { /* the complaint under an escaped key */
                        char id[40], *s;

                        complaint_id(i, id, sizeof(id));
                        s = km_xasprintf(
                                "{\"schema_version\":1,\"complaint_id\":\"%s\","
                                "\"attempt\":1,\"org_id\":\"o\",\"org_kind\":"
                                "\"ksk\",\"building_id\":null,\"district\":null,"
                                "\"category\":\"heating\",\"received_at\":\"%s\","
                                "\"routed_at\":\"2026-03-01T10:00:01Z\","
                                "\"due_at\":\"2026-03-02T10:00:00Z\","
                                "\"route_reason\":\"building\",\"compl\\u0061int\":"
                                "{\"description\":\"esc\",\"contact\":"
                                "{\"phone\":\"1\"}}}",
                                id, at);
                        produce(&b, 0, s);
                        continue;
                }
                produce(&b, 0, dispatch_msg(i, 1, at, i == 5 ? special : "d"));
        }
        produce_close(&b);
        /* everything already on the topic: one batch */
        {
                char g2[260];
                const char *extra[] = {"--set", g2,
                                       "--set", "tasksink.batch_size=1000",
                                       "--set", "tasksink.batch_ms=5000",
                                       "--set", "tasksink.idle_ms=1000",
                                       NULL};

                snprintf(g2, sizeof(g2), "tasksink.group=%s", group);
                pid = rt_spawn(&t, "tasksink", extra, log, sizeof(log));
                assert_true(pid > 0);
                pids[npids++] = pid;
        }
        assert_int_equal(
                rt_wait_count(&t, "SELECT count(*) FROM tasks", 198, 60000),
                198);
        /* the sink has exited (its dead letters flushed): read to the end */
        stop(pid, SIGTERM);
        assert_int_equal(km_test_read_to_end(&t.conf, t.dlq, "read_committed",
                                             30000, on_dlq, &g),
                         2);
        assert_int_equal(g.n, 2);
        assert_true((g.offsets[0] == 37 && g.offsets[1] == 150) ||
                    (g.offsets[0] == 150 && g.offsets[1] == 37));
        assert_int_equal(rt_log_number(log, "dead-lettered "), 2);
        assert_int_equal(rt_log_number(log, "batches "), 1);
        /* COPY's special bytes arrive intact */
        task_field(5, "description", buf, sizeof(buf));
        assert_string_equal(buf, special);
        task_field(5, "complaint->>'description'", buf, sizeof(buf));
        assert_string_equal(buf, special);
        task_field(5, "contact->>'name'", buf, sizeof(buf));
        assert_string_equal(buf, "Aigerim");
        task_field(99, "complaint::text", buf, sizeof(buf));
        assert_string_equal(buf, "{\"contact\": {\"phone\": \"1\"}, "
                                 "\"description\": \"esc\"}");
        task_field(99, "contact->>'phone'", buf, sizeof(buf));
        assert_string_equal(buf, "1");
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        if (rt_setup(&t, "sink2"))
                return -1;
        snprintf(group, sizeof(group), "%s-sink", t.schema);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        connect_allowed(1); /* should test_database_lost have failed */
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_two_sinks, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_sink_killed, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_database_lost, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_refused_rows_split, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
