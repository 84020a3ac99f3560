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

static void test_history(void **state)
{
        struct th_handover h;
        char *out = NULL, dir2[300], sql[512];
        const char *imp[] = {"--prune", "--effective", "2026-06-01", "import",
                             dir2, NULL};
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
        assert_int_equal(nperiods,
                         rt_count(&t, "SELECT count(ksk_id) + "
                                      "count(lift_operator_id) FROM "
                                      "buildings"));
        /* KSK `from` hands all its buildings to `to` and leaves */
        snprintf(dir2, sizeof(dir2), "%s2", t.datadir);
        assert_int_equal(th_make_handover(&t, dir2, &h), 0);
        st = rt_run(&t, "directory", imp, &out);
        assert_int_equal(st, 0);
        {
                char want[200];

                snprintf(want, sizeof(want), "responsibility: %s ksk: %s -> %s "
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
                if (strstr(out, h.from) == NULL || strstr(out, "retired") == NULL)
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
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
