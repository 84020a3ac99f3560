/*
 * test_analytics.c - komek-analytics and komek-escalator against the real
 * broker and database, on a generated city (komek-gen, seed 7: 400
 * buildings, 25 KSKs, 3,000 complaint lines over 120 days, 1,500 votes).
 *
 * Two analytics processes share one group; one is SIGKILLed while they
 * work (proved: it had partitions assigned and had consumed, by its own
 * /metrics, and the group's stored offsets were short of the total) and a
 * third takes over; then the database terminates the survivors' sessions
 * (proved: more than none terminated, offsets still short of the total).
 * Input holds duplicates (resubmitted
 * complaints, republished messages, repeated votes, task events twice)
 * and garbage.  Then every figure is compared with expect.c's
 * recomputation from the raw input: weekly counts and week-over-week
 * change, since-January totals, channels, districts, per-organisation
 * numbers, the KSK rating with its minimums, and the escalations, each
 * once in the table and once on the topic.  A second group replays
 * everything and changes nothing: every fact and aggregate table and the
 * analyst's views (org_stats, ksk_rating, weekly, districts, ...) are
 * compared row for row before and after.
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
#include "km_test_metrics.h"
#include "tcheck.h"

static struct fx_env env;
static struct fx_data d;
static char group[128];
static int64_t now;

static const char *const an_args[] = {
        "--set",
        "analytics.rating_min_complaints=20",
        "--set",
        "analytics.rating_min_votes=10",
        "--batch-max",
        "40",
        "--log-level",
        "info",
        /* a killed member leaves the group in 6 s, not 45 */
        "-X",
        "session.timeout.ms=6000",
        "-X",
        "heartbeat.interval.ms=500",
        NULL,
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

/* pf NULL-able: metrics on a free port, written to the file pf */
static int spawn_analytics_m(const char *grp, const char *log, const char *pf)
{
        const char *args[40];
        char set[200], pfset[600];
        int n = 0;

        snprintf(set, sizeof(set), "analytics.group=%s", grp);
        args[n++] = "--set";
        args[n++] = set;
        if (pf) {
                snprintf(pfset, sizeof(pfset), "analytics.metrics_port_file=%s",
                         pf);
                args[n++] = "--set";
                args[n++] = "analytics.metrics_port=-1";
                args[n++] = "--set";
                args[n++] = pfset;
        }
        for (int i = 0; an_args[i]; i++)
                args[n++] = an_args[i];
        args[n] = NULL;
        return fx_spawn(&env, "analytics", args, log);
}

static int spawn_analytics(const char *grp, const char *log)
{
        return spawn_analytics_m(grp, log, NULL);
}

/* Messages a running analytics process consumed from the four input
 * topics, by its /metrics (-1 when they could not be read). */
static long consumed_by(int port)
{
        long sum = 0;

        for (int t = FX_CPL; t <= FX_VOT; t++) {
                char series[300];
                double v;

                snprintf(series, sizeof(series),
                         "komek_messages_total{topic=\"%s\",outcome=\"in\"}",
                         env.topics[t]);
                v = km_test_metric(port, series);
                if (v > 0)
                        sum += (long)v;
        }
        return sum;
}

/* Two processes, one SIGKILLed mid-stream, a third restarts; then the
 * stored facts are exactly the distinct inputs. */
static void test_two_processes_kill_restart(void **state)
{
        long want = 0, at_kill, p1_in = 0, terminated, after;
        int p1, p2, p3, port;
        int64_t deadline = km_now_ms() + 60000;
        const char *log1 = ".run/test-logs/test_analytics.p1.log";
        const char *pf1 = ".run/test-logs/test_analytics.p1.mport";

        (void)state;
        for (int t = FX_CPL; t <= FX_VOT; t++)
                want += fx_topic_total(&env, t);
        unlink(pf1);
        p1 = spawn_analytics_m(group, log1, pf1);
        p2 = spawn_analytics(group, ".run/test-logs/test_analytics.p2.log");
        assert_true(p1 > 0 && p2 > 0);
        port = km_test_metrics_port(pf1, p1, 60000);
        assert_true(port > 0);
        /* the process to be killed takes part: it consumed (its own
         * counter), and the group stored a fifth of the offsets */
        while ((fx_stored_total(&env, group) < want / 5 ||
                (p1_in = consumed_by(port)) <= 0) &&
               km_now_ms() < deadline)
                tc_pause_ms(5);
        at_kill = fx_stored_total(&env, group);
        assert_int_equal(km_test_wait(p1, SIGKILL, 5000), 128 + SIGKILL);
        print_message("SIGKILLed one process at %ld of %ld offsets; it had "
                      "consumed %ld messages on %d assigned partition(s)\n",
                      at_kill, want, p1_in, tc_log_lines(log1, "assigned "));
        assert_true(at_kill < want); /* it really was mid-stream */
        assert_true(p1_in > 0);      /* and it was working */
        assert_true(tc_log_lines(log1, "assigned ") > 0);
        p3 = spawn_analytics(group, ".run/test-logs/test_analytics.p3.log");
        assert_true(p3 > 0);
        /* and the database drops the survivors' sessions mid-stream */
        while (fx_stored_total(&env, group) < want / 2 &&
               km_now_ms() < deadline)
                tc_pause_ms(5);
        terminated = tc_terminate_sessions(group);
        after = fx_stored_total(&env, group);
        print_message("terminated %ld analytics session(s) at %ld of %ld "
                      "offsets\n",
                      terminated, after, want);
        /* the injection happened: sessions were dropped, and before the
         * work was done (offsets only grow: short now, short then) */
        assert_true(terminated > 0);
        assert_true(after < want);
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
        struct ex_rating_params p = {
                {0.30, 0.20, 0.20, 0.10, 0.20, 0.10}, 20, 10, 30};

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

/* Every row of the relations analytics writes or an analyst reads, as
 * (relation, rows, md5 of the sorted rows), one line each: malloc'ed. */
static char *snapshot(void)
{
        static const char *const rel[] = {"an_complaints",
                                          "an_tasks",
                                          "an_task_events",
                                          "an_votes",
                                          "an_daily",
                                          "an_daily_district",
                                          "an_org_daily",
                                          "an_vote_month",
                                          "org_stats",
                                          "ksk_rating",
                                          "complaints_weekly",
                                          "complaints_weekly_district",
                                          "channels_weekly",
                                          "complaints_ytd",
                                          NULL};
        char *out = km_xstrdup(""), err[512];

        for (int i = 0; rel[i]; i++) {
                /* relation names: this fixed list, not input */
                char *q = km_xasprintf(
                        "SELECT count(*), md5(coalesce(string_agg(r::text, "
                        "E'\\n' ORDER BY r::text), '')) FROM %s r",
                        rel[i]);
                PGresult *res = NULL;
                char *next;

                if (km_pg_exec(env.conn, q, 0, NULL, &res, err, sizeof(err)))
                        fail_msg("snapshot %s: %s", rel[i], err);
                next = km_xasprintf("%s%s %s rows %s\n", out, rel[i],
                                    PQgetvalue(res, 0, 0),
                                    PQgetvalue(res, 0, 1));
                PQclear(res);
                free(q);
                free(out);
                out = next;
        }
        return out;
}

/* A second group reads everything again: nothing changes. */
static void test_replay_changes_nothing(void **state)
{
        char g2[160];
        char *before = snapshot(), *after;
        int p;

        (void)state;
        snprintf(g2, sizeof(g2), "%s-replay", group);
        p = spawn_analytics(g2, ".run/test-logs/test_analytics.replay.log");
        assert_true(p > 0);
        assert_int_equal(fx_caught_up(&env, g2, 90000), 0);
        assert_int_equal(km_test_wait(p, SIGTERM, 20000), 0);
        after = snapshot();
        if (strcmp(before, after) != 0)
                print_message("before the replay:\n%safter:\n%s", before,
                              after);
        assert_string_equal(after, before);
        free(before);
        free(after);
        tc_check_facts(&d);
}

static void test_escalations_once(void **state)
{
        struct ex_esc_params p = {3, 168, 1.5, 100, 10, 3};
        char set[200];
        const char *args[] = {"--set",
                              set,
                              "--once",
                              "--set",
                              "escalator.systemic_count=3",
                              "--set",
                              "escalator.systemic_window_hours=168",
                              "--set",
                              "escalator.inefficient_factor=1.5",
                              "--set",
                              "escalator.inefficient_min_apartments=100",
                              "--set",
                              "escalator.inefficient_min_complaints=10",
                              "--set",
                              "escalator.inefficient_months=3",
                              "--name",
                              "komek-test-escalator",
                              NULL};
        char name[160];
        long rows, msgs;

        (void)state;
        snprintf(set, sizeof(set), "escalator.analytics_group=%s", group);
        km_test_name(name, sizeof(name), "esc");
        args[16] = name;
        assert_int_equal(
                km_test_wait(fx_spawn(&env, "escalator", args,
                                      ".run/test-logs/test_analytics.esc1.log"),
                             0, 120000),
                0);
        rows = tc_check_escalations(&d, now, &p);
        msgs = tc_check_escalation_topic(&env);
        assert_int_equal(msgs, rows);
        /* again: nothing new in the table or on the topic */
        assert_int_equal(
                km_test_wait(fx_spawn(&env, "escalator", args,
                                      ".run/test-logs/test_analytics.esc2.log"),
                             0, 120000),
                0);
        assert_int_equal(tc_check_escalations(&d, now, &p), rows);
        assert_int_equal(tc_check_escalation_topic(&env), rows);
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
        assert_int_equal(
                json_integer_value(json_object_get(j, "since_january")), ytd);
        assert_int_equal(json_integer_value(json_object_get(j, "count")), n);
        assert_int_equal(json_integer_value(json_object_get(j, "previous")),
                         prev);
        assert_true(fabs(json_real_value(json_object_get(j, "wow_pct")) -
                         ex_round(100.0 * (double)(n - prev) / (double)prev,
                                  1)) < 0.051);
        cats = json_object_get(j, "categories");
        assert_int_equal(json_array_size(cats), d.conf->ncategories);
        for (i = 0; i < json_array_size(cats); i++) {
                json_t *c = json_array_get(cats, i);
                const char *code =
                        json_string_value(json_object_get(c, "code"));
                long cn = 0, cp = 0, cy = 0;

                for (size_t k = 0; k < d.nc; k++) {
                        if (strcmp(d.c[k].category, code))
                                continue;
                        cn += d.c[k].day >= ws && d.c[k].day <= ws + 6;
                        cp += d.c[k].day >= ws - 7 && d.c[k].day < ws;
                        cy += d.c[k].day >= jan1 && d.c[k].day <= ws + 6;
                }
                assert_int_equal(
                        json_integer_value(json_object_get(c, "count")), cn);
                assert_int_equal(
                        json_integer_value(json_object_get(c, "previous")), cp);
                assert_int_equal(
                        json_integer_value(json_object_get(c, "since_january")),
                        cy);
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
