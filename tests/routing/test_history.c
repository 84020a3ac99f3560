/*
 * test_history.c - the directory remembers (issue 17), against the real
 * database: an import with --effective closes the old responsibility
 * period of every building whose KSK changed and opens the new one,
 * reports each change, retires (never deletes) the KSK no longer in the
 * file; `who` answers by the time asked; re-importing the same files
 * changes nothing; a change dated before a later period is refused and
 * writes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "th.h"

static struct rt t;
static struct th_handover h; /* test_history's, for test_by_day */

static void test_history(void **state)
{
        char *out = NULL, dir2[300], sql[512];
        const char *imp[] = {"--prune", "--effective", "2026-06-01",
                             "import",  dir2,          NULL};
        const char *late[] = {"--effective", "2026-05-01", "import", dir2,
                              NULL};
        long nb, nperiods;
        int st;

        (void)state;
        nb = rt_count(&t, "SELECT count(*) FROM buildings");
        assert_true(nb > 0);
        /* the first import: one period per building and kind, from -inf */
        nperiods = rt_count(&t, "SELECT count(*) FROM building_orgs WHERE "
                                "valid_from = '-infinity' AND valid_to IS "
                                "NULL");
        assert_int_equal(nperiods, rt_count(&t, "SELECT count(ksk_id) + "
                                                "count(lift_operator_id) FROM "
                                                "buildings"));
        /* KSK `from` hands all its buildings to `to` and leaves */
        snprintf(dir2, sizeof(dir2), "%s2", t.datadir);
        assert_int_equal(th_make_handover(&t, dir2, &h), 0);
        st = rt_run(&t, "directory", imp, &out);
        assert_int_equal(st, 0);
        {
                char want[200];

                snprintf(want, sizeof(want),
                         "responsibility: %s ksk: %s -> %s "
                         "from 2026-05-31T19:00:00Z",
                         h.building, h.from, h.to);
                if (strstr(out, want) == NULL)
                        fail_msg("import output lacks \"%s\":\n%s", want, out);
                snprintf(want, sizeof(want), "responsibility: %ld handed over",
                         h.nbuildings);
                if (strstr(out, want) == NULL)
                        fail_msg("import output lacks \"%s\":\n%s", want, out);
        }
        free(out);
        out = NULL;
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM building_orgs WHERE org_id = '%s' AND "
                 "valid_to = '2026-06-01T00:00:00+05'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), h.nbuildings);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM building_orgs WHERE org_id = '%s' AND "
                 "valid_from = '2026-06-01T00:00:00+05' AND valid_to IS NULL",
                 h.to);
        assert_int_equal(rt_count(&t, sql), h.nbuildings);
        /* retired, not deleted */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM organisations WHERE id = '%s' AND "
                 "retired_at = '2026-06-01T00:00:00+05'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), 1);
        /* the lookup, by the day; the SQL function says the same */
        {
                const char *before[] = {"who", h.building, "heating",
                                        "2026-05-31T18:59:59Z", NULL};
                const char *after[] = {"who", h.building, "heating",
                                       "2026-05-31T19:00:00Z", NULL};

                assert_int_equal(rt_run(&t, "directory", before, &out), 0);
                if (strstr(out, h.from) == NULL ||
                    strstr(out, "retired") == NULL)
                        fail_msg("who before: got %s, want %s (retired)", out,
                                 h.from);
                free(out);
                assert_int_equal(rt_run(&t, "directory", after, &out), 0);
                if (strstr(out, h.to) == NULL)
                        fail_msg("who after: got %s, want %s", out, h.to);
                free(out);
                out = NULL;
                snprintf(sql, sizeof(sql),
                         "SELECT count(*) FROM buildings b WHERE "
                         "directory_responsible(b.id, 'heating', "
                         "'2026-03-01Z') = '%s'",
                         h.from);
                assert_int_equal(rt_count(&t, sql), h.nbuildings);
        }
        /* the same files again: nothing changes */
        st = rt_run(&t, "directory", imp, &out);
        assert_int_equal(st, 0);
        if (strstr(out, "0 handed over") == NULL ||
            strstr(out, "(unchanged)") == NULL)
                fail_msg("second import changed something:\n%s", out);
        free(out);
        out = NULL;
        /* a change dated before the new period: refused, nothing written */
        th_swap_back(&t, dir2, &h);
        nperiods = rt_count(&t, "SELECT count(*) FROM building_orgs");
        st = rt_run(&t, "directory", late, &out);
        free(out);
        assert_int_equal(st, 1);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM building_orgs"),
                         nperiods);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM buildings WHERE ksk_id = '%s'", h.to);
        assert_true(rt_count(&t, sql) >= h.nbuildings);
}

/* One task as komek-analytics loads it from `dispatch`. */
static void an_task(const char *id, int attempt, const char *org,
                    const char *reason, const char *received)
{
        char sql[1024];

        snprintf(
                sql, sizeof(sql),
                "WITH i AS (INSERT INTO an_tasks (complaint_id, attempt, org_id, "
                "org_kind, building_id, district, category, route_reason, "
                "received_at, day, routed_at, due_at, channel) VALUES "
                "('%s', %d, '%s', 'ksk', '%s', 'Есиль', 'heating', '%s', "
                "'%s', '%s'::date, '%s'::timestamptz + interval '%d day', "
                "'%s'::timestamptz + interval '1 day', 'phone') RETURNING "
                "1) SELECT count(*) FROM i",
                id, attempt, org, h.building, reason, received, received,
                received, attempt * 20, received);
        assert_int_equal(rt_count(&t, sql), 1);
}

static void an_event(const char *id, int attempt, const char *org,
                     const char *ev, const char *at)
{
        char sql[512];

        snprintf(
                sql, sizeof(sql),
                "WITH i AS (INSERT INTO an_task_events (event_id, complaint_id, "
                "attempt, org_id, event, at) VALUES (gen_random_uuid(), "
                "'%s', %d, '%s', '%s', '%s') RETURNING 1) SELECT "
                "count(*) FROM i",
                id, attempt, org, ev, at);
        assert_int_equal(rt_count(&t, sql), 1);
}

/* Per-KSK figures by the day: the tasks of h.building, before and after
 * the handover of 2026-06-01 (+05), one of them handed over open, one
 * routed before the directory knew history (to the wrong KSK); the
 * views' figures against the fixture's own count. */
static void test_by_day(void **state)
{
        static const char *const c[] = {
                "00000000-0000-4000-8000-000000000001", /* May, from */
                "00000000-0000-4000-8000-000000000002", /* May, handed over */
                "00000000-0000-4000-8000-000000000003", /* June, to */
                "00000000-0000-4000-8000-000000000004", /* April, misrouted */
        };
        char sql[600];

        (void)state;
        assert_true(h.from[0] != '\0');
        an_task(c[0], 1, h.from, "building_id", "2026-05-10T06:00:00Z");
        an_event(c[0], 1, h.from, "resolved", "2026-05-10T09:00:00Z");
        an_task(c[1], 1, h.from, "building_id", "2026-05-20T06:00:00Z");
        an_event(c[1], 1, h.from, "acknowledged", "2026-05-20T08:00:00Z");
        an_task(c[1], 2, h.to, "rerouted:handover", "2026-05-20T06:00:00Z");
        an_event(c[1], 2, h.to, "resolved", "2026-06-02T06:00:00Z");
        an_task(c[2], 1, h.to, "building_id", "2026-06-10T06:00:00Z");
        an_task(c[3], 1, h.to, "building_id", "2026-04-01T06:00:00Z");
        /* one row per complaint: the handover folded in */
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM task_times"), 4);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM task_times WHERE org_id = '%s'", h.from);
        assert_int_equal(rt_count(&t, sql), 3);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM task_times WHERE org_id = '%s'", h.to);
        assert_int_equal(rt_count(&t, sql), 1);
        /* the handed-over one: acknowledged by from, resolved by to */
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM task_times WHERE complaint_id = '%s' "
                 "AND handed_over AND status = 'resolved' AND routed_org_id "
                 "= '%s' AND ack_hours = 2 AND resolve_hours = 13 * 24",
                 c[1], h.from);
        assert_int_equal(rt_count(&t, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT complaints FROM org_stats WHERE org_id = '%s'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), 3);
        snprintf(sql, sizeof(sql),
                 "SELECT complaints FROM org_stats WHERE org_id = '%s'", h.to);
        assert_int_equal(rt_count(&t, sql), 1);
        /* the rating: May is from's (2), June is to's (1); apartments
         * of the buildings each served in the month */
        snprintf(sql, sizeof(sql),
                 "SELECT complaints FROM ksk_rating WHERE ksk_id = '%s' AND "
                 "month_text = '2026-05'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), 2);
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(sum(complaints), 0) FROM ksk_rating WHERE "
                 "ksk_id = '%s' AND month_text IN ('2026-04', '2026-05')",
                 h.to);
        assert_int_equal(rt_count(&t, sql), 0);
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM ksk_rating WHERE ksk_id = '%s' AND "
                 "month_text = '2026-06' AND apartments = 0 AND "
                 "unrated_reason = 'no_apartments'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), 1);
        snprintf(sql, sizeof(sql),
                 "SELECT apartments FROM org_apartments_monthly WHERE "
                 "org_id = '%s' AND month = '2026-04-01'",
                 h.from);
        assert_int_equal(rt_count(&t, sql), h.apartments);
}

static int setup(void **state)
{
        (void)state;
        if (rt_setup(&t, "history") ||
            rt_gen(&t, "--seed 7 --buildings 60 --ksks 6 --complaints 50 "
                       "--days 300") ||
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
                cmocka_unit_test(test_history),
                cmocka_unit_test(test_by_day),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
