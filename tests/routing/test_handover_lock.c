/*
 * test_handover_lock.c - the two handovers of issue 17 are ordered
 * (km_task_handover_lock), against the real broker and database:
 *   - komek-directory import waits while a task sink batch is in flight
 *     (a transaction holding the lock shared, as a batch does), seen in
 *     pg_locks as a backend waiting for the advisory lock, and ends with
 *     exit 0 once that transaction committed;
 *   - a task sink batch waits while an import is in flight (the lock held
 *     exclusively, as an import does): no task is written, the sink's
 *     backend is seen waiting, and every complaint becomes a task once the
 *     import's transaction committed.
 * Without the ordering a batch writing tasks for an old organisation
 * while an import commits keeps them there (neither handover sees them);
 * test_reload found 86 so on a loaded machine.  The lock is taken here
 * with SQL of the test's own, not through the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

/* the lock's key (km_task.h), as pg_locks shows a bigint key */
#define WAITING                                                                \
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "       \
        "NOT granted AND objsubid = 1 AND database = (SELECT oid FROM "        \
        "pg_database WHERE datname = current_database()) AND "                 \
        "classid::bigint * 4294967296 + objid::bigint = 7305310002"

static struct rt t;
static PGconn *held; /* the other program's transaction, lock held */
static int procs[3]; /* spawned; stopped by each test's teardown */

/* A second session holding the lock in an open transaction (lock_timeout:
 * a test that fails never leaves anything waiting for ever). */
static void hold(const char *how)
{
        char err[512], sql[128];

        held = km_pg_connect(t.conninfo, "komek-test-hold", 30, err,
                             sizeof(err));
        if (held == NULL)
                fail_msg("connect: %s", err);
        snprintf(sql, sizeof(sql), "SELECT %s(7305310002)", how);
        if (km_pg_exec(held, "SET lock_timeout = '60s'", 0, NULL, NULL, err,
                       sizeof(err)) ||
            km_pg_exec(held, "BEGIN", 0, NULL, NULL, err, sizeof(err)) ||
            km_pg_exec(held, sql, 0, NULL, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

static void release(void)
{
        char err[512];

        if (km_pg_exec(held, "COMMIT", 0, NULL, NULL, err, sizeof(err)))
                fail_msg("commit: %s", err);
        PQfinish(held);
        held = NULL;
}

/* After each test, also a failed one: the session closed (its lock
 * with it), what it spawned stopped. */
static int test_done(void **state)
{
        (void)state;
        if (held)
                PQfinish(held);
        held = NULL;
        for (int i = 0; i < 3; i++)
                if (procs[i] > 0)
                        km_test_wait(procs[i], SIGTERM, 30000);
        memset(procs, 0, sizeof(procs));
        return 0;
}

static void test_import_waits_for_a_batch(void **state)
{
        const char *imp[] = {"import", t.datadir, NULL};
        int pid;

        (void)state;
        hold("pg_advisory_xact_lock_shared");
        pid = procs[0] = rt_spawn(&t, "directory", imp, NULL, 0);
        assert_true(pid > 0);
        /* the import's backend waits for the batch's transaction */
        assert_int_equal(rt_wait_count(&t, WAITING, 1, 30000), 1);
        assert_int_equal(kill(pid, 0), 0); /* still running */
        release();
        procs[0] = 0;
        assert_int_equal(km_test_wait(pid, 0, 60000), 0);
        assert_int_equal(rt_count(&t, WAITING), 0);
}

static void test_batch_waits_for_an_import(void **state)
{
        char group[200], txn[200], sgroup[200];
        const char *rargs[] = {"--set", group, "--set", txn, NULL};
        const char *sargs[] = {"--set", sgroup, NULL};
        int router, sink, n;

        (void)state;
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        hold("pg_advisory_xact_lock");
        router = procs[1] = rt_spawn(&t, "router", rargs, NULL, 0);
        sink = procs[2] = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        assert_true(router > 0 && sink > 0);
        n = rt_publish_range(&t, 0, 20, NULL);
        assert_int_equal(n, 20);
        /* the sink's first batch waits for the import's transaction, so
         * nothing is written meanwhile */
        assert_int_equal(rt_wait_count(&t, WAITING, 1, 60000), 1);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), 0);
        release();
        assert_int_equal(
                rt_wait_count(&t, "SELECT count(*) FROM tasks", n, 60000), n);
        assert_int_equal(rt_count(&t, WAITING), 0);
        procs[1] = procs[2] = 0;
        assert_int_equal(km_test_wait(router, SIGTERM, 30000), 0);
        assert_int_equal(km_test_wait(sink, SIGTERM, 30000), 0);
}

static int setup(void **state)
{
        (void)state;
        if (rt_setup(&t, "hlock") ||
            rt_gen(&t, "--seed 17 --buildings 40 --ksks 3 --complaints 60 "
                       "--days 30 --dup-rate 0 --bad-rate 0") ||
            rt_import(&t, NULL))
                return -1;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_import_waits_for_a_batch,
                                          test_done),
                cmocka_unit_test_teardown(test_batch_waits_for_an_import,
                                          test_done),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
