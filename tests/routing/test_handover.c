/*
 * test_handover.c - a handover mid-stream (issue 17), against the real
 * broker and database: two routers and a task sink route the first part
 * of a generated stream; then KSK `from` hands all its buildings to `to`
 * with effect from 2026-06-01 (local midnight, +05) while they run.
 *   - every open task of `from`'s buildings moves to `to`: attempt + 1,
 *     route_reason rerouted:handover, one task_outbox handed_over row and
 *     one task-events message each; from's inbox lists it as handed over,
 *     to's as its own;
 *   - one router is restarted during the handover; the rest of the
 *     stream (received before and after the date) is routed by the day:
 *     each complaint's first attempt went to the KSK responsible at its
 *     received_at, as the test recomputes it from the files.
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

#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "th.h"

#define GEN                                                                    \
        "--seed 13 --buildings 60 --ksks 4 --complaints 400 --days 300 "       \
        "--dup-rate 0 --bad-rate 0"
#define EFFECTIVE_UTC "2026-05-31T19:00:00Z" /* 2026-06-01 +05 */

static struct rt t;
static int routers[2], sink;
static char rlog[2][512]; /* the routers' logs */

static int start_router(int instance)
{
        char group[200], txn[200];
        const char *extra[] = {"--set", group,   "--set",
                               txn,     "--set", "router.reload_ms=200",
                               NULL};

        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt-%d", t.schema,
                 instance);
        return rt_spawn(&t, "router", extra, rlog[instance],
                        sizeof(rlog[instance]));
}

static int count_handed(const rd_kafka_message_t *rkm, void *opaque)
{
        int *n = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *ev = json_string_value(json_object_get(o, "event"));
        const char *why = json_string_value(json_object_get(o, "reason"));

        if (ev && strcmp(ev, "handed_over") == 0 && why &&
            strcmp(why, "rerouted:handover") == 0)
                (*n)++;
        json_decref(o);
        return 0;
}

/* komek-analytics over the same topics; then every KSK's complaints in
 * org_stats and in each month of ksk_rating against the test's own count
 * by the day: the sink's tasks (not rejected: nobody rejects here), each
 * for `from` when its building was from's and it arrived before the
 * date, else for its building's KSK in the files. */
static void check_figures(const struct th_handover *h, long want_from)
{
        char votes[200], vset[260], group[200], sql[2048];
        const char *args[] = {"--set", group, "--set", vset, NULL};
        long ntasks, diff;
        int an;

        assert_int_equal(
                km_test_topic(&t.conf, votes, sizeof(votes), "votes", 1), 0);
        snprintf(vset, sizeof(vset), "topics.votes=%s", votes);
        snprintf(group, sizeof(group), "analytics.group=%s-an", t.schema);
        an = rt_spawn(&t, "analytics", args, NULL, 0);
        assert_true(an > 0);
        /* every assignment and the handover attempts */
        ntasks = rt_count(&t, "SELECT count(*) FROM task_attempts");
        assert_int_equal(rt_wait_count(&t, "SELECT count(*) FROM an_tasks",
                                       ntasks, 90000),
                         ntasks);
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT count(*) FROM "
                                       "an_task_events",
                                       rt_count(&t, "SELECT count(*) FROM "
                                                    "task_outbox WHERE topic "
                                                    "= 'task_events'"),
                                       60000),
                         rt_count(&t, "SELECT count(*) FROM task_outbox "
                                      "WHERE topic = 'task_events'"));
        assert_int_equal(km_test_wait(an, SIGTERM, 30000), 0);
        /* the expectation: from the buildings table as the files left it
         * and the fixture's own list of from's buildings (th) */
#define TH_EXPECT                                                                                 \
        "WITH mine AS (SELECT unnest(string_to_array('%s', ',')) AS b), "                         \
        "want AS (SELECT CASE WHEN t.building_id IN (SELECT b FROM mine) "                        \
        "AND t.received_at < '" EFFECTIVE_UTC "' THEN '%s' ELSE bl.ksk_id "                       \
        "END AS org, date_trunc('month', (t.received_at AT TIME ZONE "                            \
        "'UTC') + interval '5 hours')::date AS month FROM tasks t JOIN categories c ON c.code = " \
        "t.category JOIN buildings bl ON bl.id = t.building_id WHERE c.kind "                     \
        "= 'ksk' AND t.org_kind <> 'triage'), "
        snprintf(sql, sizeof(sql),
                 TH_EXPECT
                 "w AS (SELECT org, count(*) AS n FROM want GROUP BY 1), "
                 "g AS (SELECT org_id AS org, complaints AS n FROM org_stats "
                 "WHERE kind = 'ksk' AND complaints > 0) "
                 "SELECT count(*) FROM w FULL JOIN g USING (org) WHERE "
                 "w.n IS DISTINCT FROM g.n",
                 h->buildings, h->from);
        diff = rt_count(&t, sql);
        if (diff != 0)
                fail_msg("org_stats: %ld KSK(s) differ from the count by the "
                         "day",
                         diff);
        snprintf(sql, sizeof(sql),
                 TH_EXPECT
                 "w AS (SELECT org, month, count(*) AS n FROM want GROUP BY "
                 "1, 2), g AS (SELECT ksk_id AS org, month, complaints AS n "
                 "FROM ksk_rating WHERE complaints > 0) SELECT count(*) FROM "
                 "w FULL JOIN g USING (org, month) WHERE w.n IS DISTINCT "
                 "FROM g.n",
                 h->buildings, h->from);
        diff = rt_count(&t, sql);
        if (diff != 0)
                fail_msg("ksk_rating: %ld KSK-month(s) differ from the count "
                         "by the day",
                         diff);
        /* not vacuous: from's figure is its complaints before the date */
        snprintf(sql, sizeof(sql),
                 "SELECT complaints FROM org_stats WHERE org_id = '%s'",
                 h->from);
        assert_int_equal(rt_count(&t, sql), want_from);
        /* from's rating never has a complaint of after the date */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM ksk_rating WHERE ksk_id = '%s' AND "
                 "month > '2026-06-01' AND complaints > 0",
                 h->from);
        assert_int_equal(rt_count(&t, sql), 0);
}

static void test_handover(void **state)
{
        struct th_handover h;
        char dir2[300], sql[1024], eff_arg[] = "2026-06-01";
        const char *imp[] = {"--prune", "--effective", eff_arg,
                             "import",  dir2,          NULL};
        char *out = NULL;
        long open_from, total, first, moved_events, want_from = -1;
        int n_events = 0;

        (void)state;
        /* the first part of the stream, routed before the handover */
        total = rt_count(&t, "SELECT 400");
        first = rt_publish_range(&t, 0, 180, NULL); /* to mid-May */
        assert_int_equal(first, 180);
        assert_int_equal(
                rt_wait_count(&t, "SELECT count(*) FROM tasks", first, 90000),
                first);
        snprintf(dir2, sizeof(dir2), "%s2", t.datadir);
        assert_int_equal(th_make_handover(&t, dir2, &h), 0);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM tasks t JOIN categories c ON c.code = "
                 "t.category WHERE t.org_id = '%s' AND c.kind = 'ksk' AND "
                 "t.status = 'open'",
                 h.from);
        open_from = rt_count(&t, sql);
        assert_true(open_from > 0);
        /* the handover, a router restarted across it */
        assert_int_equal(km_test_wait(routers[1], SIGTERM, 30000), 0);
        routers[1] = 0;
        assert_int_equal(rt_run(&t, "directory", imp, &out), 0);
        snprintf(sql, sizeof(sql), "tasks: %ld open task(s) handed over",
                 open_from);
        if (strstr(out, sql) == NULL)
                fail_msg("import: want \"%s\", got:\n%s", sql, out);
        free(out);
        out = NULL;
        routers[1] = start_router(1);
        assert_true(routers[1] > 0);
        /* the sink relays the outbox and applies attempt + 1 */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM tasks WHERE org_id = '%s' AND "
                 "route_reason = 'rerouted:handover' AND status = 'open'",
                 h.to);
        assert_int_equal(rt_wait_count(&t, sql, open_from, 60000), open_from);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM tasks t JOIN categories c ON c.code = "
                 "t.category WHERE t.org_id = '%s' AND c.kind = 'ksk'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), 0);
        assert_int_equal(rt_count(&t, "SELECT count(DISTINCT complaint_id) "
                                      "FROM task_outbox WHERE event = "
                                      "'handed_over'"),
                         open_from);
        assert_int_equal(rt_wait_count(&t,
                                       "SELECT count(*) FROM task_outbox "
                                       "WHERE published_at IS NULL",
                                       0, 60000),
                         0);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM task_outbox"),
                         2 * open_from);
        /* one task-events message each, nothing more */
        moved_events = rt_committed_to_end(&t, t.events, 60000);
        assert_int_equal(moved_events, open_from);
        km_test_read_topic(&t.conf, t.events, "read_committed", (int)open_from,
                           30000, 0, count_handed, &n_events);
        assert_int_equal(n_events, open_from);
        /* both inboxes */
        {
                char org[64];
                const char *list[] = {org, "list", NULL};
                int n = 0;

                snprintf(org, sizeof(org), "--org=%s", h.from);
                assert_int_equal(rt_run(&t, "inbox", list, &out), 0);
                for (const char *p = out; (p = strstr(p, "handed over to "));
                     p++)
                        n++;
                if (n != open_from)
                        fail_msg("inbox of %s: %d handed over, want %ld:\n%s",
                                 h.from, n, open_from, out);
                free(out);
                snprintf(org, sizeof(org), "--org=%s", h.to);
                assert_int_equal(rt_run(&t, "inbox", list, &out), 0);
                if (strstr(out, "(handed over: the building changed hands)") ==
                    NULL)
                        fail_msg("inbox of %s shows no handed-over task:\n%s",
                                 h.to, out);
                free(out);
                out = NULL;
        }
        /* both routers on the new directory before the rest */
        {
                long want = rt_count(&t, "SELECT version FROM "
                                         "directory_version");
                int64_t deadline = km_now_ms() + 30000;

                while ((rt_log_number(rlog[0], "directory version") != want ||
                        rt_log_number(rlog[1], "directory version") != want) &&
                       km_now_ms() < deadline) {
                        /* polling the routers' logs against the deadline */
                        struct timespec ts = {0, 100 * 1000000L};

                        nanosleep(&ts, NULL);
                }
                assert_int_equal(rt_log_number(rlog[0], "directory version"),
                                 want);
                assert_int_equal(rt_log_number(rlog[1], "directory version"),
                                 want);
        }
        assert_int_equal(rt_publish_range(&t, 180, -1, NULL), total - first);
        assert_int_equal(
                rt_wait_count(&t, "SELECT count(*) FROM tasks", total, 90000),
                total);
        /* by the day: the first attempt of every complaint of from's
         * buildings went to from before the date, to to after it */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM task_attempts a JOIN tasks t USING "
                 "(complaint_id) JOIN categories c ON c.code = t.category "
                 "WHERE a.attempt = 1 AND c.kind = 'ksk' AND t.received_at "
                 "< '" EFFECTIVE_UTC "' AND a.org_id = '%s' AND t.building_id "
                 "IN (SELECT building_id FROM building_orgs WHERE org_id = "
                 "'%s')",
                 h.from, h.from);
        {
                long before = rt_count(&t, sql), want_before, after, want_after;

                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM tasks t JOIN categories c ON "
                         "c.code = t.category WHERE c.kind = 'ksk' AND "
                         "t.received_at < '" EFFECTIVE_UTC "' AND "
                         "t.building_id IN (SELECT building_id FROM "
                         "building_orgs WHERE org_id = '%s')",
                         h.from);
                want_before = rt_count(&t, sql);
                assert_true(want_before > first / 10);
                assert_int_equal(before, want_before);
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM task_attempts a JOIN tasks t "
                         "USING (complaint_id) JOIN categories c ON c.code = "
                         "t.category WHERE a.attempt = 1 AND c.kind = 'ksk' "
                         "AND t.received_at >= '" EFFECTIVE_UTC "' AND "
                         "a.org_id = '%s' AND t.building_id IN (SELECT "
                         "building_id FROM building_orgs WHERE org_id = "
                         "'%s')",
                         h.to, h.from);
                after = rt_count(&t, sql);
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM tasks t JOIN categories c ON "
                         "c.code = t.category WHERE c.kind = 'ksk' AND "
                         "t.received_at >= '" EFFECTIVE_UTC "' AND "
                         "t.building_id IN (SELECT building_id FROM "
                         "building_orgs WHERE org_id = '%s')",
                         h.from);
                want_after = rt_count(&t, sql);
                assert_true(want_after > 0);
                assert_int_equal(after, want_after);
                /* routed after the import, received before the date: the
                 * directory says `to` now, the day says `from` */
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM task_attempts a JOIN tasks t "
                         "USING (complaint_id) WHERE a.attempt = 1 AND "
                         "a.org_id = '%s' AND a.recorded_at > (SELECT "
                         "updated_at FROM directory_version)",
                         h.from);
                assert_true(rt_count(&t, sql) > 0);
                printf("by the day: %ld routed after the import to %s\n",
                       rt_count(&t, sql), h.from);
                want_from = want_before;
                printf("by the day: %ld before the date at %s, %ld after at "
                       "%s, %ld handed over\n",
                       before, h.from, after, h.to, open_from);
        }
        check_figures(&h, want_from);
}

static int setup(void **state)
{
        char sgroup[200];
        const char *sargs[] = {"--set", sgroup,
                               "--set", "tasksink.relay_age_ms=300",
                               "--set", "tasksink.relay_ms=200",
                               NULL};

        (void)state;
        if (rt_setup(&t, "handover") || rt_gen(&t, GEN) || rt_import(&t, NULL))
                return -1;
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        routers[0] = start_router(0);
        routers[1] = start_router(1);
        sink = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        return routers[0] > 0 && routers[1] > 0 && sink > 0 ? 0 : -1;
}

static int teardown(void **state)
{
        int r = 0;

        (void)state;
        for (int i = 0; i < 2; i++)
                if (routers[i] > 0 && km_test_wait(routers[i], SIGTERM, 30000))
                        r = -1;
        if (sink > 0 && km_test_wait(sink, SIGTERM, 30000))
                r = -1;
        rt_teardown(&t);
        return r;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_handover),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
