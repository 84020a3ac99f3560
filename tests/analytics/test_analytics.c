/*
 * test_analytics.c - komek-analytics and komek-escalator against the real
 * broker and database, on a generated city (komek-gen, seed 7: 400
 * buildings, 25 KSKs, 3,000 complaint lines over 120 days, 1,500 votes).
 *
 * Two analytics processes share one group; one is SIGKILLed while they
 * work and a third takes over; input holds duplicates (resubmitted
 * complaints, republished messages, repeated votes, task events twice)
 * and garbage.  Then every figure is compared with expect.c's
 * recomputation from the raw input: weekly counts and week-over-week
 * change, since-January totals, channels, districts, per-organisation
 * numbers, the KSK rating with its minimums, and the escalations, each
 * once in the table and once on the topic.  A second group replays
 * everything and changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "expect.h"
#include "fx.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "tcheck.h"

static struct fx_env env;
static struct fx_data d;
static char group[128];
static int64_t now;

static const char *const an_args[] = {
    "--set", "analytics.rating_min_complaints=20",
    "--set", "analytics.rating_min_votes=10",
    "--batch-max", "40", "--log-level", "info",
    /* a killed member leaves the group in 6 s, not 45 */
    "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", NULL,
};

static int setup(void **state)
{
        static const int parts[FX_NTOPICS] = {3, 3, 2, 2, 1, 1};

        (void)state;
        if (fx_env_init(&env, parts))
                return -1;
        if (fx_generate(&d, &env.conf,
                        "--seed 7 --buildings 400 --ksks 25 --complaints 3000 "
                        "--from 2025-01-06 --days 120 --votes 1500"))
                return -1;
        if (fx_load_directory(&env, &d) || fx_publish(&env, &d, 0, (int)d.nm))
                return -1;
        km_test_name(group, sizeof(group), "an-group");
        now = km_wall_s();
        tc_init(env.conn);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        fx_data_destroy(&d);
        fx_env_destroy(&env);
        return 0;
}

static int spawn_analytics(const char *grp, const char *log)
{
        const char *args[32];
        char set[200];
        int n = 0;

        snprintf(set, sizeof(set), "analytics.group=%s", grp);
        args[n++] = "--set";
        args[n++] = set;
        for (int i = 0; an_args[i]; i++)
                args[n++] = an_args[i];
        args[n] = NULL;
        return fx_spawn(&env, "analytics", args, log);
}

/* Two processes, one SIGKILLed mid-stream, a third restarts; then the
 * stored facts are exactly the distinct inputs. */
static void test_two_processes_kill_restart(void **state)
{
        long want = 0, at_kill;
        int p1, p2, p3;
        int64_t deadline = km_now_ms() + 60000;

        (void)state;
        for (int t = FX_CPL; t <= FX_VOT; t++)
                want += fx_topic_total(&env, t);
        p1 = spawn_analytics(group, ".run/test-logs/test_analytics.p1.log");
        p2 = spawn_analytics(group, ".run/test-logs/test_analytics.p2.log");
        assert_true(p1 > 0 && p2 > 0);
        while (fx_stored_total(&env, group) < want / 5 &&
               km_now_ms() < deadline)
                tc_pause_ms(5);
        at_kill = fx_stored_total(&env, group);
        assert_int_equal(km_test_wait(p1, SIGKILL, 5000), 128 + SIGKILL);
        print_message("SIGKILLed one process at %ld of %ld offsets\n", at_kill,
                      want);
        assert_true(at_kill < want); /* it really was mid-stream */
        p3 = spawn_analytics(group, ".run/test-logs/test_analytics.p3.log");
        assert_true(p3 > 0);
        /* and the database drops the survivors' sessions mid-stream */
        while (fx_stored_total(&env, group) < want / 2 &&
               km_now_ms() < deadline)
                tc_pause_ms(5);
        at_kill = tc_terminate_sessions(group);
        print_message("terminated %ld analytics session(s) at %ld of %ld "
                      "offsets\n", at_kill, fx_stored_total(&env, group), want);
        assert_int_equal(fx_caught_up(&env, group, 90000), 0);
        assert_int_equal(km_test_wait(p2, SIGTERM, 20000), 0);
        assert_int_equal(km_test_wait(p3, SIGTERM, 20000), 0);
        tc_check_facts(&d);
}

static void test_weekly_counts(void **state)
{
        (void)state;
        tc_check_weekly(&d);
        tc_check_ytd(&d);
        tc_check_channels(&d);
        tc_check_districts(&d);
}

static void test_org_stats(void **state)
{
        (void)state;
        tc_check_orgs(&d, now);
}

static void test_rating(void **state)
{
        struct ex_rating_params p = {{0.30, 0.20, 0.20, 0.10, 0.20}, 20, 10, 30};

        (void)state;
        tc_check_rating(&d, now, &p);
}

static void test_no_personal_data(void **state)
{
        (void)state;
        tc_check_no_pii();
}

static void test_dead_letters(void **state)
{
        (void)state;
        tc_check_dlq(&env, d.bad);
}

/* A second group reads everything again: nothing changes. */
static void test_replay_changes_nothing(void **state)
{
        char g2[160];
        long before = tc_fingerprint(), after;
        int p;

        (void)state;
        snprintf(g2, sizeof(g2), "%s-replay", group);
        p = spawn_analytics(g2, ".run/test-logs/test_analytics.replay.log");
        assert_true(p > 0);
        assert_int_equal(fx_caught_up(&env, g2, 90000), 0);
        assert_int_equal(km_test_wait(p, SIGTERM, 20000), 0);
        after = tc_fingerprint();
        assert_int_equal(after, before);
        tc_check_facts(&d);
}

static void test_escalations_once(void **state)
{
        struct ex_esc_params p = {3, 168, 1.5, 100, 10};
        char set[200];
        const char *args[] = {"--set", set, "--once",
                              "--set", "escalator.systemic_count=3",
                              "--set", "escalator.systemic_window_hours=168",
                              "--set", "escalator.inefficient_factor=1.5",
                              "--set", "escalator.inefficient_min_apartments=100",
                              "--set", "escalator.inefficient_min_complaints=10",
                              "--name", "komek-test-escalator", NULL};
        char name[160];
        long rows, msgs;

        (void)state;
        snprintf(set, sizeof(set), "escalator.analytics_group=%s", group);
        km_test_name(name, sizeof(name), "esc");
        args[14] = name;
        assert_int_equal(km_test_wait(fx_spawn(&env, "escalator", args,
                                               ".run/test-logs/test_analytics.esc1.log"),
                                      0, 120000),
                         0);
        rows = tc_check_escalations(&d, now, &p);
        msgs = tc_check_escalation_topic(&env, rows);
        assert_int_equal(msgs, rows);
        /* again: nothing new in the table or on the topic */
        assert_int_equal(km_test_wait(fx_spawn(&env, "escalator", args,
                                               ".run/test-logs/test_analytics.esc2.log"),
                                      0, 120000),
                         0);
        assert_int_equal(tc_check_escalations(&d, now, &p), rows);
        assert_int_equal(tc_check_escalation_topic(&env, rows), rows);
}

/* komek-report's figures for 2025-W18 (the last complete week of the
 * data) against the recomputation. */
static void test_report_figures(void **state)
{
        const char *bin = getenv("KOMEK_BIN"), *root = getenv("KOMEK_ROOT");
        int64_t ws = ex_days(2025, 4, 28), jan1 = ex_days(2025, 1, 1);
        long ytd = 0, n = 0, prev = 0;
        char out[] = "/tmp/komek-an-report-XXXXXX";
        json_t *j, *cats;
        size_t i;
        int fd = mkstemp(out);

        (void)state;
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(fx_run("KOMEK_PG_CONNINFO=\"%s\" %s/komek-report "
                                "--config %s/deploy/komek.conf --week 2025-W18 "
                                "--format json --out %s",
                                env.conninfo, bin ? bin : "bin",
                                root ? root : ".", out),
                         0);
        j = json_load_file(out, 0, NULL);
        unlink(out);
        assert_non_null(j);
        for (i = 0; i < d.nc; i++) {
                ytd += d.c[i].day >= jan1 && d.c[i].day <= ws + 6;
                n += d.c[i].day >= ws && d.c[i].day <= ws + 6;
                prev += d.c[i].day >= ws - 7 && d.c[i].day < ws;
        }
        print_message("2025-W18: since January %ld, week %ld, previous %ld\n",
                      ytd, n, prev);
        assert_string_equal(json_string_value(json_object_get(j, "week")),
                            "2025-W18");
        assert_int_equal(json_integer_value(json_object_get(j, "since_january")), ytd);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), n);
        assert_int_equal(json_integer_value(json_object_get(j, "previous")), prev);
        assert_true(fabs(json_real_value(json_object_get(j, "wow_pct")) -
                         ex_round(100.0 * (double)(n - prev) / (double)prev, 1)) < 0.051);
        cats = json_object_get(j, "categories");
        assert_int_equal(json_array_size(cats), d.conf->ncategories);
        for (i = 0; i < json_array_size(cats); i++) {
                json_t *c = json_array_get(cats, i);
                const char *code = json_string_value(json_object_get(c, "code"));
                long cn = 0, cp = 0, cy = 0;

                for (size_t k = 0; k < d.nc; k++) {
                        if (strcmp(d.c[k].category, code))
                                continue;
                        cn += d.c[k].day >= ws && d.c[k].day <= ws + 6;
                        cp += d.c[k].day >= ws - 7 && d.c[k].day < ws;
                        cy += d.c[k].day >= jan1 && d.c[k].day <= ws + 6;
                }
                assert_int_equal(json_integer_value(json_object_get(c, "count")), cn);
                assert_int_equal(json_integer_value(json_object_get(c, "previous")), cp);
                assert_int_equal(json_integer_value(json_object_get(c, "since_january")), cy);
        }
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_two_processes_kill_restart),
            cmocka_unit_test(test_weekly_counts),
            cmocka_unit_test(test_org_stats),
            cmocka_unit_test(test_rating),
            cmocka_unit_test(test_no_personal_data),
            cmocka_unit_test(test_dead_letters),
            cmocka_unit_test(test_replay_changes_nothing),
            cmocka_unit_test(test_escalations_once),
            cmocka_unit_test(test_report_figures),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
