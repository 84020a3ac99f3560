/*
 * test_escalator.c - komek-escalator's leadership against the real broker
 * and database (issue 20.6): escalators with one escalator.name (one
 * advisory lock, one transactional.id), the leader stopped mid-pass in
 * three ways, and every escalation on the topic exactly once.
 *
 * The outbox is filled directly: each case inserts ES_ROWS unpublished
 * rows into escalations (what a detection pass leaves; detection itself
 * is test_analytics' test_escalations_once), so one pass is many
 * 2,000-row Kafka transactions.  The escalators' producers send few
 * messages per request (batch.num.messages=20, a short local queue), so
 * a transaction stays open long enough to be caught.
 *
 * "Mid-pass, with a transaction open" is proved, not assumed: the leader
 * is frozen (SIGSTOP) only once this pass has marked rows, and kept
 * frozen only if the topic's high watermark is above its last stable
 * offset (read_uncommitted and read_committed ends differ) twice, 300 ms
 * apart; otherwise it is continued and caught again.  Afterwards the
 * aborted messages (read_uncommitted minus read_committed) have grown.
 *   1. SIGKILL of the leader: the standby takes the lock, fences the
 *      producer, reconciles, publishes the rest.
 *   2. The leader's database session is terminated while it is frozen
 *      (exactly one session, the lock's holder): the standby takes over
 *      and publishes everything; the old leader, continued, is fenced and
 *      exits 1 (docs: a lost session is a runtime failure) without
 *      publishing anything again.
 *   3. SIGTERM mid-pass: exit 0 within 30 s, no transaction left open,
 *      and what is on the topic is exactly what is marked published
 *      (nothing half-done); a restart publishes the rest.
 * After each case, read to the end of the topic (read_committed): every
 * row once, no message twice, none without a row.
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
#include <unistd.h>

#include "fx.h"
#include "km_kafka.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "tcheck.h"

#define ES_ROWS 10000
#define STOP_BOUND_MS 30000 /* SIGTERM (or SIGCONT after fencing) to exit */
#define LOGS ".run/test-logs/test_escalator."

static struct fx_env env;
static char name[160];
static rd_kafka_t *rk_committed, *rk_uncommitted; /* watermark probes */
static int pids[6];

static int setup(void **state)
{
        static const int parts[FX_NTOPICS] = {1, 1, 1, 1, 1, 3};
        const char *iso[2] = {"read_committed", "read_uncommitted"};
        rd_kafka_t **rk[2] = {&rk_committed, &rk_uncommitted};
        char err[512];

        (void)state;
        if (fx_env_init(&env, parts))
                return -1;
        tc_init(env.conn);
        km_test_name(name, sizeof(name), "esc-lead");
        for (int i = 0; i < 2; i++) {
                rd_kafka_conf_t *kc =
                        km_kafka_conf_new(&env.conf, NULL, err, sizeof(err));

                if (kc == NULL ||
                    rd_kafka_conf_set(kc, "isolation.level", iso[i], err,
                                      sizeof(err)) ||
                    rd_kafka_conf_set(kc, "group.id", "komek-test-probe", err,
                                      sizeof(err)))
                        return -1;
                *rk[i] = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
                if (*rk[i] == NULL) {
                        fprintf(stderr, "probe: %s\n", err);
                        return -1;
                }
        }
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++)
                if (pids[i] > 0) {
                        kill(pids[i], SIGCONT);
                        km_test_wait(pids[i], SIGKILL, 5000);
                }
        if (rk_committed)
                rd_kafka_destroy(rk_committed);
        if (rk_uncommitted)
                rd_kafka_destroy(rk_uncommitted);
        fx_env_destroy(&env);
        return 0;
}

static int spawn_esc(int slot, const char *what)
{
        char log[200];
        const char *args[] = {
                "--name",      name,
                "--set",       "escalator.interval_s=1",
                "--set",       "escalator.analytics_group=komek-test-none",
                "--log-level", "info",
                "-X",          "batch.num.messages=20",
                "-X",          "queue.buffering.max.messages=50",
                NULL};

        snprintf(log, sizeof(log), LOGS "%s.log", what);
        unlink(log);
        pids[slot] = fx_spawn(&env, "escalator", args, log);
        assert_true(pids[slot] > 0);
        return pids[slot];
}

/* Wait until the log of `what` has a line containing s. */
static void wait_log(const char *what, const char *s, int deadline_ms)
{
        char log[200];
        int64_t deadline = km_now_ms() + deadline_ms;

        snprintf(log, sizeof(log), LOGS "%s.log", what);
        while (tc_log_lines(log, s) <= 0) {
                if (km_now_ms() > deadline)
                        fail_msg("%s: no \"%s\" in %d ms", log, s, deadline_ms);
                tc_pause_ms(20);
        }
}

static long count(const char *where)
{
        char *q = km_xasprintf("SELECT count(*) FROM escalations WHERE %s",
                               where);
        PGresult *res = tc_query(q);
        long n = atol(PQgetvalue(res, 0, 0));

        PQclear(res);
        free(q);
        return n;
}

static void insert_rows(void)
{
        char n[16];
        const char *p[1] = {n};
        PGresult *res = NULL;
        char err[512];

        snprintf(n, sizeof(n), "%d", ES_ROWS);
        if (km_pg_exec(env.conn,
                       "INSERT INTO escalations (escalation_id, kind, org_id,"
                       " complaint_id, window_start, window_end, evidence)"
                       " SELECT gen_random_uuid(), 'sla_breach',"
                       " 'KSK-T' || (g % 40), gen_random_uuid(),"
                       " now() - interval '2 days', now() - interval '1 day',"
                       " '{\"test\": true}' FROM generate_series(1, $1::int) g",
                       1, p, &res, err, sizeof(err)))
                fail_msg("insert: %s", err);
        PQclear(res);
}

/* Messages on the escalations topic above its last stable offset: > 0
 * while a transaction is open (or undecided). */
static long open_txn_messages(void)
{
        const char *topic = env.topics[FX_ESC];
        long gap = 0;

        for (int p = 0; p < 3; p++) {
                int64_t lo, hw = 0, lso = 0;

                if (rd_kafka_query_watermark_offsets(rk_uncommitted, topic, p,
                                                     &lo, &hw, 10000) ||
                    rd_kafka_query_watermark_offsets(rk_committed, topic, p,
                                                     &lo, &lso, 10000))
                        fail_msg("watermarks of %s[%d]", topic, p);
                gap += (long)(hw - lso);
        }
        return gap;
}

/* Freeze pid (SIGSTOP) mid-pass with a transaction open: this pass has
 * marked rows beyond `marked_before`, some remain, and the topic's ends
 * differ twice 300 ms apart. */
static void freeze_mid_txn(int pid, long marked_before)
{
        int64_t deadline = km_now_ms() + 120000;
        int tries = 0;

        while (km_now_ms() < deadline) {
                long marked = count("published_at IS NOT NULL");

                if (marked > marked_before &&
                    count("published_at IS NULL") >= 2000) {
                        tries++;
                        assert_int_equal(kill(pid, SIGSTOP), 0);
                        if (open_txn_messages() > 0) {
                                tc_pause_ms(300);
                                if (open_txn_messages() > 0) {
                                        print_message(
                                                "frozen mid-pass (try %d): %ld of "
                                                "%ld rows marked, %ld messages of "
                                                "an open transaction\n",
                                                tries,
                                                count("published_at IS NOT NULL"),
                                                count("true"),
                                                open_txn_messages());
                                        return;
                                }
                        }
                        assert_int_equal(kill(pid, SIGCONT), 0);
                }
                tc_pause_ms(marked > marked_before ? 3 : 20);
        }
        fail_msg("pid %d never caught mid-pass with a transaction open "
                 "(%d tries)",
                 pid, tries);
}

static void wait_all_published(int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;
        long left;

        while ((left = count("published_at IS NULL")) > 0) {
                if (km_now_ms() > deadline)
                        fail_msg("%ld escalation(s) unpublished after %d ms",
                                 left, deadline_ms);
                tc_pause_ms(50);
        }
}

/* Messages from aborted transactions so far. */
static long aborted_messages(void)
{
        long u = km_test_read_to_end(&env.conf, env.topics[FX_ESC],
                                     "read_uncommitted", 60000, NULL, NULL);
        long c = km_test_read_to_end(&env.conf, env.topics[FX_ESC],
                                     "read_committed", 60000, NULL, NULL);

        assert_true(u >= 0 && c >= 0);
        print_message("aborted so far: %ld message(s)\n", u - c);
        return u - c;
}

/* The committed topic, read to its end, against the table: each message's
 * id is a row marked published, each such row on the topic once; with
 * all_marked, every row is marked.  @returns the messages read. */
static long check_topic(int all_marked)
{
        struct tc_ids s;
        PGresult *res;
        long dups = 0, missing = 0, extra = 0, rows;
        size_t i = 0, j = 0;

        tc_escalation_ids(&env, &s);
        res = tc_query(
                "SELECT escalation_id::text FROM escalations WHERE "
                "published_at IS NOT NULL ORDER BY escalation_id::text COLLATE \"C\"");
        rows = PQntuples(res);
        while (i < s.n || j < (size_t)rows) {
                int c;

                if (i > 0 && i < s.n && strcmp(s.ids[i - 1], s.ids[i]) == 0) {
                        dups++;
                        i++;
                        continue;
                }
                c = i == s.n ? 1
                    : j == (size_t)rows
                            ? -1
                            : strcmp(s.ids[i], PQgetvalue(res, (int)j, 0));
                extra += c < 0;   /* on the topic, not marked (or no row) */
                missing += c > 0; /* marked, not on the topic */
                if (c <= 0)
                        i++;
                if (c >= 0)
                        j++;
        }
        PQclear(res);
        tc_ids_free(&s);
        print_message("topic: %zu message(s); rows marked %ld of %ld; twice "
                      "%ld, not marked %ld, marked but missing %ld\n",
                      s.n, rows, count("true"), dups, extra, missing);
        assert_int_equal(dups, 0);
        assert_int_equal(extra, 0);
        assert_int_equal(missing, 0);
        if (all_marked)
                assert_int_equal(count("published_at IS NULL"), 0);
        return (long)s.n;
}

/* Two escalators; the leader SIGKILLed mid-pass; the standby publishes
 * the rest, once. */
static void test_sigkill_takeover(void **state)
{
        long aborted;
        int a, b;

        (void)state;
        a = spawn_esc(0, "a");
        wait_log("a", "reconciled", 60000); /* a leads */
        b = spawn_esc(1, "b");
        wait_log("b", "standby", 60000);
        aborted = aborted_messages();
        insert_rows();
        freeze_mid_txn(a, 0);
        assert_int_equal(km_test_wait(a, SIGKILL, 5000), 128 + SIGKILL);
        pids[0] = 0;
        wait_log("b", "reconciled", 60000);
        wait_all_published(120000);
        check_topic(1);
        /* the kill left a transaction open, and it was aborted */
        assert_true(aborted_messages() > aborted);
        assert_true(kill(b, 0) == 0); /* b still leads */
}

/* The leader's session terminated while it is frozen mid-transaction;
 * the standby takes over; the old leader, continued, is fenced. */
static void test_lost_session_takeover(void **state)
{
        char lockname[160];
        const char *p[1] = {lockname};
        PGresult *res = NULL;
        char err[512];
        long aborted, marked = count("published_at IS NOT NULL");
        int b = pids[1], c;

        (void)state;
        assert_true(b > 0);
        snprintf(lockname, sizeof(lockname), "%s", name);
        c = spawn_esc(2, "c");
        wait_log("c", "standby", 60000);
        aborted = aborted_messages();
        insert_rows();
        freeze_mid_txn(b, marked);
        /* the session holding the leader lock (escalator.c's key) */
        if (km_pg_exec(env.conn,
                       "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                       " WHERE locktype = 'advisory' AND granted"
                       " AND classid = 73053105 AND objsubid = 2"
                       " AND objid = (hashtext($1)::bigint & 4294967295)::oid"
                       " AND database = (SELECT oid FROM pg_database"
                       " WHERE datname = current_database())",
                       1, p, &res, err, sizeof(err)))
                fail_msg("terminate: %s", err);
        assert_string_equal(PQgetvalue(res, 0, 0), "1");
        PQclear(res);
        wait_log("c", "reconciled", 60000);
        wait_all_published(120000);
        check_topic(1);
        /* the old leader wakes up fenced and without its session */
        assert_int_equal(kill(b, SIGCONT), 0);
        assert_int_equal(km_test_wait(b, 0, STOP_BOUND_MS), 1);
        pids[1] = 0;
        print_message("the old leader's log: %d line(s) on being fenced\n",
                      tc_log_lines(LOGS "b.log", "fenced"));
        check_topic(1);
        /* its open transaction was aborted: by the standby's fencing (the
         * transaction timeout is far off) */
        assert_true(aborted_messages() > aborted);
        assert_true(kill(c, 0) == 0);
}

/* SIGTERM mid-pass: exit 0, nothing half-done; a restart finishes. */
static void test_sigterm_mid_pass(void **state)
{
        long marked = count("published_at IS NOT NULL"), open;
        int64_t deadline;
        int c = pids[2], d;

        (void)state;
        assert_true(c > 0);
        insert_rows();
        freeze_mid_txn(c, marked);
        assert_int_equal(kill(c, SIGTERM), 0);
        assert_int_equal(kill(c, SIGCONT), 0);
        assert_int_equal(km_test_wait(c, 0, STOP_BOUND_MS), 0);
        pids[2] = 0;
        /* no transaction left open: the coordinator writes the markers
         * of a commit or abort it was sent; poll for them */
        deadline = km_now_ms() + 10000;
        while ((open = open_txn_messages()) > 0 && km_now_ms() < deadline)
                tc_pause_ms(50);
        assert_int_equal(open, 0);
        print_message("after SIGTERM: %ld of %ld rows marked\n",
                      count("published_at IS NOT NULL"), count("true"));
        check_topic(0);
        d = spawn_esc(3, "d");
        wait_all_published(120000);
        check_topic(1);
        assert_int_equal(km_test_wait(d, SIGTERM, STOP_BOUND_MS), 0);
        pids[3] = 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sigkill_takeover),
                cmocka_unit_test(test_lost_session_takeover),
                cmocka_unit_test(test_sigterm_mid_pass),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
