/*
 * test_sigterm.c - SIGTERM while a batch is open, in komek-router,
 * komek-tasksink and komek-analytics, against the real broker and
 * database (issue 20.2).  Each worker gets a long batch window (60 s, no
 * size limit reached), the open batch is confirmed from outside, then
 * SIGTERM; the worker must exit 0 within 30 s, leave nothing half-done,
 * and after a restart with ordinary settings every complaint of the
 * generated set is there exactly once (routing checked against the
 * generator's truth, tests/routing/rt.c) with no offset lost.
 *   - router: its open Kafka transaction is seen with read_uncommitted
 *     (>= 1,000 dispatch messages) while the committed view, read to its
 *     end, is empty;
 *   - task sink: it consumed every dispatch message (its consumer lag on
 *     every partition is 0, by its /metrics) while no task is written;
 *     after SIGTERM there are no tasks or all of them (the batch finished
 *     or dropped whole), never a part;
 *   - analytics writes a batch as soon as a poll comes back empty, so a
 *     feeder thread keeps the complaints (their canonical messages,
 *     again: duplicates to analytics) arriving; once it consumes from
 *     every partition (a consumer lag series for each), the stored offsets
 *     are read and SIGTERM follows at once; the open batch is proved
 *     after the fact: the process consumed more than was stored when
 *     SIGTERM came (its own closing "consumed N" line).  After SIGTERM
 *     the facts are exactly the distinct complaints below the stored
 *     offsets, partition by partition (the batch finished or dropped
 *     whole).
 * The escalator is in tests/analytics/test_escalator.c: SIGTERM while a
 * transaction of its pass is proved open, with a standby and takeovers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "km_kafka.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "km_test_metrics.h"

#define GEN "--seed 13 --buildings 1500 --ksks 80 --complaints 3000 --days 200"
#define STOP_BOUND_MS 30000 /* SIGTERM to exit */

static struct rt t;
static struct rt_truth truth;
static pthread_t feeder_th;
static int feeder_on; /* joined by teardown when a check failed */
static char votes[160];
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

/* SIGTERM; it must exit 0 within the bound. */
static void stop(int pid, const char *what)
{
        int64_t t0 = km_now_ms();
        int st;

        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
        st = km_test_wait(pid, SIGTERM, STOP_BOUND_MS);
        printf("%s: SIGTERM -> exit %d after %lld ms\n", what, st,
               (long long)(km_now_ms() - t0));
        if (st != 0)
                fail_msg("%s: exit %d after SIGTERM (-1: still running after "
                         "%d ms)",
                         what, st, STOP_BOUND_MS);
}

static void nap_ms(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL); /* between polls against a deadline */
}

static void gen_publish(void)
{
        int published, unique;

        assert_int_equal(rt_gen(&t, GEN), 0);
        assert_int_equal(rt_import(&t, NULL), 0);
        assert_int_equal(rt_truth_load(&t, &truth), 0);
        published = rt_publish(&t, &unique);
        assert_int_equal(published, truth.valid);
        assert_int_equal(unique, truth.n);
}

static int start_router(const char *batch_size, const char *batch_ms)
{
        char group[200], txn[200], bs[64], bm[64];
        const char *extra[] = {"--set", group,
                               "--set", txn,
                               "--set", bs,
                               "--set", bm,
                               "--set", "router.txn_timeout_ms=120000",
                               NULL};

        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt-1", t.schema);
        snprintf(bs, sizeof(bs), "router.batch_size=%s", batch_size);
        snprintf(bm, sizeof(bm), "router.batch_ms=%s", batch_ms);
        return start("router", extra, NULL, 0);
}

/* mport NULL-able: metrics on a free port, its number into *mport */
static int start_sink(const char *batch_size, const char *batch_ms, int *mport)
{
        char group[200], bs[64], bm[64], im[64], pf[512], pfset[600];
        /* idle_ms as long as batch_ms: an open batch stays open (the
         * sink writes a batch as soon as its input goes idle) */
        const char *extra[] = {"--set",
                               group,
                               "--set",
                               bs,
                               "--set",
                               bm,
                               "--set",
                               im,
                               "--set",
                               "tasksink.relay_age_ms=500",
                               mport ? "--set" : NULL,
                               "tasksink.metrics_port=-1",
                               "--set",
                               pfset,
                               NULL};
        int pid;

        snprintf(group, sizeof(group), "tasksink.group=%s-sink", t.schema);
        snprintf(bs, sizeof(bs), "tasksink.batch_size=%s", batch_size);
        snprintf(bm, sizeof(bm), "tasksink.batch_ms=%s", batch_ms);
        snprintf(im, sizeof(im), "tasksink.idle_ms=%ld",
                 atol(batch_ms) > 60000 ? 60000L : atol(batch_ms));
        snprintf(pf, sizeof(pf), "%s/sink-%d.mport", t.logdir, npids);
        snprintf(pfset, sizeof(pfset), "tasksink.metrics_port_file=%s", pf);
        pid = start("tasksink", extra, NULL, 0);
        if (mport && (*mport = km_test_metrics_port(pf, pid, 60000)) == 0)
                fail_msg("tasksink: no metrics port in %s", pf);
        return pid;
}

static int start_analytics(const char *batch_max, const char *batch_ms,
                           int *mport, char *log, size_t loglen)
{
        char group[200], bs[64], bm[64], pf[512], pfset[600], vt[200];
        const char *extra[] = {"--set",
                               group,
                               "--set",
                               bs,
                               "--set",
                               bm,
                               "--set",
                               vt,
                               "--log-level",
                               "info",
                               mport ? "--set" : NULL,
                               "analytics.metrics_port=-1",
                               "--set",
                               pfset,
                               NULL};
        int pid;

        snprintf(group, sizeof(group), "analytics.group=%s-an", t.schema);
        snprintf(bs, sizeof(bs), "analytics.batch_max=%s", batch_max);
        snprintf(bm, sizeof(bm), "analytics.batch_ms=%s", batch_ms);
        snprintf(vt, sizeof(vt), "topics.votes=%s", votes);
        snprintf(pf, sizeof(pf), "%s/an-%d.mport", t.logdir, npids);
        snprintf(pfset, sizeof(pfset), "analytics.metrics_port_file=%s", pf);
        pid = start("analytics", extra, log, loglen);
        if (mport && (*mport = km_test_metrics_port(pf, pid, 60000)) == 0)
                fail_msg("analytics: no metrics port in %s", pf);
        return pid;
}

/*
 * Poll port's /metrics until komek_consumer_lag of every one of topic's
 * nparts partitions is present and 0 (everything consumed), or the
 * deadline.  @returns 0 when so.
 */
static int wait_consumed(int port, const char *topic, int nparts,
                         int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;
        int present = 0;
        double behind = -1;

        while (km_now_ms() < deadline) {
                present = 0;
                behind = 0;
                for (int p = 0; p < nparts; p++) {
                        char series[300];
                        double v;

                        snprintf(series, sizeof(series),
                                 "komek_consumer_lag{topic=\"%s\",partition=\""
                                 "%d\"}",
                                 topic, p);
                        v = km_test_metric(port, series);
                        if (v >= 0) {
                                present++;
                                behind += v;
                        }
                }
                if (present == nparts && behind == 0)
                        return 0;
                nap_ms(200);
        }
        fprintf(stderr, "%s: lag on %d of %d partitions, %.0f behind\n", topic,
                present, nparts, behind);
        return -1;
}

/* ---- the analytics feeder ------------------------------------------------- */

struct msg {
        char *key, *payload, *id;
        int partition;
        long offset;
};

struct msgs {
        struct msg *m;
        size_t n, cap;
};

static int collect_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct msgs *ms = opaque;
        struct msg *m;
        const char *p;

        if (ms->n == ms->cap)
                ms->m = km_xrealloc(ms->m,
                                    (ms->cap = ms->cap ? ms->cap * 2 : 1024) *
                                            sizeof(*ms->m));
        m = &ms->m[ms->n++];
        m->key = rkm->key ? km_xstrndup(rkm->key, rkm->key_len) : NULL;
        m->payload = km_xstrndup(rkm->payload, rkm->len);
        m->partition = rkm->partition;
        m->offset = (long)rkm->offset;
        /* the id of a canonical complaint: "id":"<uuid>" */
        p = strstr(m->payload, "\"id\":\"");
        m->id = p ? km_xstrndup(p + 6, 36) : km_xstrdup("?");
        return 0;
}

static void msgs_free(struct msgs *ms)
{
        for (size_t i = 0; i < ms->n; i++) {
                free(ms->m[i].key);
                free(ms->m[i].payload);
                free(ms->m[i].id);
        }
        free(ms->m);
        memset(ms, 0, sizeof(*ms));
}

struct feeder {
        const struct msgs *src;
        volatile int stop;
        long produced; /* delivered */
        int failed;
};

static struct feeder fd; /* the analytics test's */

/* Produce src again and again, one producer, a steady stream. */
static void *feed(void *arg)
{
        struct feeder *f = arg;
        struct km_kafka_counts counts = {0};
        char err[512];
        rd_kafka_t *rk =
                km_kafka_producer_new(&t.conf, NULL, &counts, err, sizeof(err));

        if (rk == NULL) {
                f->failed = 1;
                return NULL;
        }
        for (size_t i = 0; !f->stop; i = (i + 1) % f->src->n) {
                const struct msg *m = &f->src->m[i];

                if (km_kafka_produce(rk, t.complaints, RD_KAFKA_PARTITION_UA,
                                     m->key, m->payload, strlen(m->payload),
                                     &counts, 30000, err, sizeof(err))) {
                        f->failed = 1;
                        break;
                }
                if (i % 100 == 99)
                        nap_ms(5); /* about 20,000 a second at most */
        }
        if (km_kafka_flush(rk, 60000, err, sizeof(err)))
                f->failed = 1;
        f->produced = (long)counts.delivered;
        rd_kafka_destroy(rk);
        return NULL;
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Distinct complaint ids among the messages below each partition's
 * stored next_offset (analytics' group, complaints topic). */
static long distinct_below_stored(const struct msgs *all)
{
        long next[64] = {0}, n = 0;
        char **ids = km_xcalloc(all->n + 1, sizeof(char *));
        size_t k = 0;

        for (int p = 0; p < 64; p++) {
                char q[600];

                snprintf(q, sizeof(q),
                         "SELECT coalesce(max(next_offset), 0) FROM "
                         "consumer_offsets WHERE topic = '%s' AND partition "
                         "= %d", /* a test-made topic name */
                         t.complaints, p);
                next[p] = rt_count(&t, q);
        }
        for (size_t i = 0; i < all->n; i++)
                if (all->m[i].partition >= 0 && all->m[i].partition < 64 &&
                    all->m[i].offset < next[all->m[i].partition])
                        ids[k++] = all->m[i].id;
        qsort(ids, k, sizeof(char *), str_cmp);
        for (size_t i = 0; i < k; i++)
                n += i == 0 || strcmp(ids[i], ids[i - 1]) != 0;
        free(ids);
        return n;
}

/* the router group consumed and committed every complaint */
static void router_drained(void)
{
        char group[200];

        snprintf(group, sizeof(group), "%s-router", t.schema);
        assert_int_equal(rt_group_drained(&t, group, t.complaints, 60000), 0);
}

static void check_tasks(void)
{
        assert_int_equal(rt_wait_count(&t, "SELECT count(*) FROM tasks",
                                       (long)truth.n, 60000),
                         (long)truth.n);
        assert_int_equal(rt_truth_check_tasks(&t, &truth), 0);
}

static void test_router(void **state)
{
        int router, sink;
        long committed;

        (void)state;
        gen_publish();
        sink = start_sink("500", "200", NULL);
        router = start_router("100000", "60000");
        /* the batch is open: in the log uncommitted, nothing committed */
        assert_true(km_test_read_topic(&t.conf, t.dispatch, "read_uncommitted",
                                       1000, 60000, 0, NULL, NULL) >= 1000);
        assert_int_equal(rt_committed_to_end(&t, t.dispatch, 60000), 0);
        stop(router, "router with an open transaction");
        /* it committed its batch or aborted it: the committed view is
         * whole (no offsets without messages is checked below) */
        committed = rt_committed_to_end(&t, t.dispatch, 60000);
        printf("router: %ld dispatch messages committed at SIGTERM\n",
               committed);
        assert_true(committed >= 0 && committed <= (long)truth.n);
        /* a restart with ordinary batches: each complaint once */
        router = start_router("500", "200");
        check_tasks();
        router_drained();
        assert_int_equal(rt_committed_to_end(&t, t.dispatch, 60000),
                         (long)truth.n);
        stop(router, "router");
        stop(sink, "tasksink");
}

static void test_tasksink(void **state)
{
        int router, sink, mport;
        long after;

        (void)state;
        gen_publish();
        router = start_router("500", "200");
        /* dispatch complete and committed before the sink starts */
        router_drained();
        assert_int_equal(rt_committed_to_end(&t, t.dispatch, 60000),
                         (long)truth.n);
        stop(router, "router");
        sink = start_sink("100000", "60000", &mport);
        /* the open batch: every message consumed, none written */
        assert_int_equal(wait_consumed(mport, t.dispatch, 6, 50000), 0);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), 0);
        stop(sink, "tasksink with an open batch");
        after = rt_count(&t, "SELECT count(*) FROM tasks");
        printf("tasksink: %ld tasks written at SIGTERM (of %zu)\n", after,
               truth.n);
        if (after != 0 && after != (long)truth.n)
                fail_msg("tasksink: %ld tasks after SIGTERM: half a batch "
                         "(want 0 or %zu)",
                         after, truth.n);
        if (after == 0) /* dropped whole: no offset may say otherwise */
                assert_int_equal(rt_count(&t, "SELECT count(*) FROM "
                                              "consumer_offsets WHERE "
                                              "next_offset > 0"),
                                 0);
        /* a restart with ordinary batches; it serves /metrics once it has
         * started (its signal handlers are installed before) */
        sink = start_sink("500", "200", &mport);
        check_tasks();
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM task_attempts"),
                         (long)truth.n);
        stop(sink, "tasksink");
}

static void test_analytics(void **state)
{
        struct msgs first = {0}, all = {0};
        int an, mport, present = 0;
        long facts, stored, below, total, before, consumed;
        char alog[512];
        int64_t deadline;
        char q[600];

        (void)state;
        assert_int_equal(km_test_topic(&t.conf, votes, sizeof(votes), "sgv", 1),
                         0);
        gen_publish();
        /* the canonical messages, to feed again */
        assert_int_equal(km_test_read_topic(&t.conf, t.complaints,
                                            "read_committed", (int)truth.valid,
                                            60000, 0, collect_cb, &first),
                         (int)truth.valid);
        memset(&fd, 0, sizeof(fd));
        fd.src = &first;
        an = start_analytics("1000000", "60000", &mport, alog, sizeof(alog));
        assert_int_equal(pthread_create(&feeder_th, NULL, feed, &fd), 0);
        feeder_on = 1;
        /* consuming from every partition (a lag series is there only once
         * the consumer has a position) */
        deadline = km_now_ms() + 40000;
        while (km_now_ms() < deadline) {
                present = 0;
                for (int p = 0; p < 6; p++) {
                        char series[300];

                        snprintf(series, sizeof(series),
                                 "komek_consumer_lag{topic=\"%s\","
                                 "partition=\"%d\"}",
                                 t.complaints, p);
                        present += km_test_metric(mport, series) >= 0;
                }
                if (present == 6)
                        break;
                nap_ms(200);
        }
        assert_int_equal(present, 6);
        snprintf(q, sizeof(q),
                 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                 "WHERE topic = '%s'", /* a test-made topic name */
                 t.complaints);
        before = rt_count(&t, q); /* then SIGTERM at once */
        stop(an, "analytics with an open batch");
        fd.stop = 1;
        pthread_join(feeder_th, NULL);
        feeder_on = 0;
        assert_false(fd.failed);
        /* the complaints topic has no transactions and this process read
         * it alone from offset 0: stored offsets count messages */
        consumed = rt_log_number(alog, "consumed ");
        printf("analytics: %ld messages stored when SIGTERM came; it had "
               "consumed %ld\n",
               before, consumed);
        assert_true(consumed > before); /* a batch was open */
        total = (long)truth.valid + fd.produced;
        assert_int_equal(km_test_read_topic(&t.conf, t.complaints,
                                            "read_committed", (int)total, 60000,
                                            0, collect_cb, &all),
                         (int)total);
        facts = rt_count(&t, "SELECT count(*) FROM an_complaints");
        below = distinct_below_stored(&all);
        stored = rt_count(&t, q);
        printf("analytics at SIGTERM: %ld facts; %ld of %ld offsets stored, "
               "%ld distinct complaints below them\n",
               facts, stored, total, below);
        if (facts != below)
                fail_msg("analytics after SIGTERM: %ld facts but %ld distinct "
                         "complaints below the stored offsets: half a batch",
                         facts, below);
        /* a restart with ordinary batches: the rest, once */
        an = start_analytics("5000", "200", NULL, NULL, 0);
        assert_int_equal(rt_wait_count(&t, q, total, 60000), total);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM an_complaints"),
                         (long)truth.n);
        stop(an, "analytics");
        msgs_free(&first);
        msgs_free(&all);
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        return rt_setup(&t, "sigterm");
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        if (feeder_on) { /* a check failed while it fed */
                fd.stop = 1;
                pthread_join(feeder_th, NULL);
                feeder_on = 0;
        }
        rt_truth_free(&truth);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_router, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tasksink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_analytics, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
