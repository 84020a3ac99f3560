/*
 * test_recover.c - komek-router's recovery paths, against the real broker
 * and database (issue 20), each followed by proof of exactly once: every
 * distinct valid complaint of a generated set is one task at the
 * organisation the generator's truth names (tests/routing/rt.c) and one
 * message on dispatch as read_committed sees it (no complaint id twice,
 * none missing), the router group consumed and committed everything, and
 * the log (read_uncommitted) holds more than that: the aborted
 * transaction's messages were written and are invisible.
 *   - fenced: while the router's transaction is open (its messages seen
 *     with read_uncommitted, nothing committed), a second producer with
 *     its transactional.id runs init_transactions.  The router must exit
 *     1 (a fenced producer is never replaced); a restart routes the rest.
 *   - renewed: a fatal producer error that is not a fencing, while a
 *     transaction with produced messages is open, and the first 3 rewinds
 *     after it refused: the router replaces its producer (same
 *     transactional.id: router_renew), reads nothing until the rewind
 *     worked, and goes on without a restart.
 *   - rewind failing: a batch fails (abort), and its first 4 rewinds are
 *     refused: reading waits (r->reseek), every 500 ms a new attempt,
 *     then the batch is routed again.
 * The fatal error, the failed batch and the refused rewinds come from the
 * router's test build (tests/routing/router_hooks.c says why no real
 * trigger serves); the fencing is real.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libgen.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "km_kafka.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

#define GEN "--seed 29 --buildings 1500 --ksks 80 --complaints 3000 --days 200"

static struct rt t;
static struct rt_truth truth;
static int pids[8];
static int npids;
static char hookbin[600]; /* the directory of the hooked komek-router */

static void forget(int pid)
{
        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
}

static void stop(int pid, const char *what)
{
        int st;

        forget(pid);
        st = km_test_wait(pid, SIGTERM, 30000);
        if (st != 0)
                fail_msg("%s: exit %d after SIGTERM (-1: still running)", what,
                         st);
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

/* Poll log until a line contains s, or the deadline. */
static int wait_log(const char *log, const char *s, int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;

        while (km_now_ms() < deadline) {
                struct timespec ts = {0, 100 * 1000000L};

                if (log_lines(log, s) > 0)
                        return 0;
                nanosleep(&ts, NULL); /* between polls against a deadline */
        }
        fprintf(stderr, "no \"%s\" in %s\n", s, log);
        return -1;
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
        /* an open transaction holds produced messages (the router
         * produces every ROUTER_FLUSH_N = 2000 routed complaints) before
         * the failures below, 200 complaints before the set's end */
        assert_true(truth.valid >= 2400);
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

/*
 * A router of the test's group and transactional.id (schema-rt), from
 * bin/ or (hooks: "NAME=VALUE" strings, NULL-terminated, NULL-able) the
 * test build with those hooks set; its log path into log.
 */
static int start_router(const char *batch_size, const char *batch_ms,
                        const char *const *hooks, char *log, size_t loglen)
{
        char group[200], txn[200], bs[64], bm[64], *bin = NULL;
        const char *extra[] = {"--set", group,   "--set", txn, "--set",
                               bs,      "--set", bm,      NULL};
        int pid;

        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(bs, sizeof(bs), "router.batch_size=%s", batch_size);
        snprintf(bm, sizeof(bm), "router.batch_ms=%s", batch_ms);
        if (hooks) { /* inherited by the child only */
                bin = km_xstrdup(getenv("KOMEK_BIN") ? getenv("KOMEK_BIN")
                                                     : "bin");
                setenv("KOMEK_BIN", hookbin, 1);
                for (const char *const *h = hooks; *h; h++)
                        putenv((char *)*h);
        }
        pid = rt_spawn(&t, "router", extra, log, loglen);
        if (hooks) {
                setenv("KOMEK_BIN", bin, 1);
                free(bin);
                for (const char *const *h = hooks; *h; h++) {
                        char name[64];

                        snprintf(name, sizeof(name), "%.*s",
                                 (int)strcspn(*h, "="), *h);
                        unsetenv(name);
                }
        }
        assert_true(pid > 0);
        pids[npids++] = pid;
        return pid;
}

/* Still running (not exited, not killed). */
static int alive(int pid)
{
        int st;

        return waitpid(pid, &st, WNOHANG) == 0;
}

struct ids {
        char **id;
        size_t n, cap;
};

static int collect_id(const rd_kafka_message_t *rkm, void *opaque)
{
        struct ids *ids = opaque;
        const char *p = rkm->payload ? memmem(rkm->payload, rkm->len,
                                              "\"complaint_id\":\"", 16)
                                     : NULL;

        if (ids->n == ids->cap)
                ids->id = km_xrealloc(
                        ids->id, (ids->cap = ids->cap ? ids->cap * 2 : 1024) *
                                         sizeof(char *));
        ids->id[ids->n++] = p ? km_xstrndup(p + 16, 36) : km_xstrdup("?");
        return 0;
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Exactly once: every complaint one task at its organisation, the group
 * drained, dispatch (read_committed, to its end) one message per complaint
 * id; and the uncommitted log longer than the committed (the aborted
 * transaction's messages are there, invisible).
 */
static void check_exactly_once(void)
{
        struct ids ids = {0};
        char group[200];
        long all, twice = 0, unknown = 0;

        assert_int_equal(rt_wait_count(&t, "SELECT count(*) FROM tasks",
                                       (long)truth.n, 90000),
                         (long)truth.n);
        assert_int_equal(rt_truth_check_tasks(&t, &truth), 0);
        snprintf(group, sizeof(group), "%s-router", t.schema);
        assert_int_equal(rt_group_drained(&t, group, t.complaints, 60000), 0);
        assert_int_equal(km_test_read_to_end(&t.conf, t.dispatch,
                                             "read_committed", 60000,
                                             collect_id, &ids),
                         (long)truth.n);
        qsort(ids.id, ids.n, sizeof(char *), str_cmp);
        for (size_t i = 0; i < ids.n; i++) {
                twice += i > 0 && strcmp(ids.id[i], ids.id[i - 1]) == 0;
                unknown += strcmp(ids.id[i], "?") == 0;
        }
        for (size_t i = 0; i < ids.n; i++)
                free(ids.id[i]);
        free(ids.id);
        all = km_test_read_to_end(&t.conf, t.dispatch, "read_uncommitted",
                                  60000, NULL, NULL);
        printf("dispatch: %zu committed (%ld twice, %ld without an id), "
               "%ld in the log with the aborted\n",
               truth.n, twice, unknown, all);
        assert_int_equal(twice, 0);
        assert_int_equal(unknown, 0);
        assert_true(all > (long)truth.n);
}

static void test_fenced(void **state)
{
        struct km_kafka_counts counts = {0};
        char log[512], txn[200], err[512];
        rd_kafka_t *rk;
        int router, sink, st;
        long seen;

        (void)state;
        gen_publish();
        sink = start_sink();
        /* one transaction for the whole set, committed after 20 s */
        router = start_router("100000", "20000", NULL, log, sizeof(log));
        seen = km_test_read_topic(&t.conf, t.dispatch, "read_uncommitted", 2000,
                                  60000, 0, NULL, NULL);
        assert_true(seen >= 2000);
        assert_int_equal(rt_committed_to_end(&t, t.dispatch, 60000), 0);
        /* the fence: the coordinator aborts the open transaction */
        snprintf(txn, sizeof(txn), "%s-rt", t.schema);
        rk = km_kafka_producer_new(&t.conf, txn, &counts, err, sizeof(err));
        if (rk == NULL)
                fail_msg("fencing producer: %s", err);
        rd_kafka_destroy(rk);
        if (rt_committed_to_end(&t, t.dispatch, 60000) != 0)
                fail_msg("the router committed before the fence (slow "
                         "machine?): see %s",
                         log);
        /* its commit finds it fenced: exit 1, no replacement */
        forget(router);
        st = km_test_wait(router, 0, 60000);
        printf("fenced router: exit %d\n", st);
        assert_int_equal(st, 1);
        assert_true(log_lines(log, "(transactional.id ") >= 1);
        assert_int_equal(log_lines(log, "producer replaced"), 0);
        /* a restart with ordinary batches routes everything, once */
        router = start_router("500", "200", NULL, log, sizeof(log));
        check_exactly_once();
        stop(router, "router");
        stop(sink, "tasksink");
}

static void test_renewed(void **state)
{
        char log[512], at[64];
        const char *hooks[] = {at, "KOMEK_TEST_ROUTER_REWIND_FAILS=3", NULL};
        int router, sink;

        (void)state;
        gen_publish();
        snprintf(at, sizeof(at), "KOMEK_TEST_ROUTER_FATAL_AT=%zu",
                 truth.valid - 200);
        sink = start_sink();
        router = start_router("100000", "3000", hooks, log, sizeof(log));
        assert_int_equal(wait_log(log, "producer replaced (1 time(s))", 90000),
                         0);
        /* reading waited for the rewind: 3 refused, then it worked */
        assert_int_equal(wait_log(log, "test hook: rewind 3 of 3", 30000), 0);
        check_exactly_once();
        printf("renewed: %ld fatal line(s), %ld refused rewind(s)\n",
               log_lines(log, "replacing it"),
               log_lines(log, "rewind: test hook"));
        assert_int_equal(log_lines(log, "test hook: fatal producer error"), 1);
        assert_true(log_lines(log, "replacing it") >= 1);
        assert_int_equal(log_lines(log, "rewind: test hook"), 3);
        assert_true(alive(router)); /* no restart */
        stop(router, "renewed router");
        stop(sink, "tasksink");
}

static void test_rewind_fails(void **state)
{
        char log[512], at[64];
        const char *hooks[] = {at, "KOMEK_TEST_ROUTER_REWIND_FAILS=4", NULL};
        int router, sink;

        (void)state;
        gen_publish();
        snprintf(at, sizeof(at), "KOMEK_TEST_ROUTER_ABORT_AT=%zu",
                 truth.valid - 200);
        sink = start_sink();
        router = start_router("100000", "3000", hooks, log, sizeof(log));
        assert_int_equal(wait_log(log, "test hook: failing the batch", 90000),
                         0);
        check_exactly_once();
        printf("rewind failing: %ld aborted batch(es), %ld refused "
               "rewind(s)\n",
               log_lines(log, "aborted a batch of"),
               log_lines(log, "rewind: test hook"));
        assert_true(log_lines(log, "aborted a batch of") >= 1);
        assert_int_equal(log_lines(log, "rewind: test hook"), 4);
        assert_int_equal(log_lines(log, "producer replaced"), 0);
        assert_true(alive(router));
        stop(router, "router");
        stop(sink, "tasksink");
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        return rt_setup(&t, "recover");
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
                cmocka_unit_test_setup_teardown(test_fenced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_renewed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rewind_fails, setup,
                                                teardown),
        };
        char self[512];
        ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

        /* the hooked router is built next to this test (module.mk) */
        if (n <= 0)
                return 1;
        self[n] = '\0';
        snprintf(hookbin, sizeof(hookbin), "%s/hooks", dirname(self));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
