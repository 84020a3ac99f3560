/*
 * test_findings.c - does komek find what the generator made fail (issue
 * 18)?  A generated city (komek-gen seed 18: 400 KSKs, 12 of them
 * failing, a year of complaints and votes) goes through the real
 * pipeline: complaints -> komek-router -> komek-tasksink; the staff's
 * activity through `komek-inbox play`; the votes through komek-vote;
 * komek-analytics until its stored offsets reach the ends; one pass of
 * komek-escalator.  Then komek's findings are compared with the
 * generator's truth, read by this test's own code (staff.csv: the failing
 * KSKs; systemic.csv: the systemic cases it made):
 *   - recall of the rating: the failing KSKs (rated ones) in the bottom
 *     decile of the rating (each KSK's mean score over its rated months),
 *     target >= 80 %;
 *   - precision of the inefficient-KSK escalations: the KSKs they name
 *     that are failing, target >= 80 %, and at least half of the failing
 *     KSKs named (recall);
 *   - precision of the systemic escalations: those whose building +
 *     category and trigger time fall in a generated systemic case,
 *     target >= 80 % (recall printed).
 * The rating minimums are the demo's (2 complaints, 2 votes a month):
 * this city, like the demo's, has about one complaint per KSK and month.
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

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "rt.h"

static struct rt t;
static int router, sink;
static char votes[160], escalations[160];
static char set_votes[200], set_esc[200], set_group[200], set_agroup[200];

/* The comma-separated fields of one line of a komek-gen truth file (no
 * quoting in staff.csv or systemic.csv); @returns the number found. */
static int split_csv(char *line, char **f, int max)
{
        int n = 0;

        line[strcspn(line, "\r\n")] = '\0';
        while (n < max) {
                f[n++] = line;
                line = strchr(line, ',');
                if (!line)
                        break;
                *line++ = '\0';
        }
        return n;
}

/* staff.csv: the failing KSKs, as a PostgreSQL text[] literal. */
static char *failing_ksks(int *n)
{
        char path[600], line[256], *f[3], *s = km_xstrdup(""), *x;
        FILE *fp;

        *n = 0;
        snprintf(path, sizeof(path), "%s/staff.csv", t.datadir);
        fp = fopen(path, "r");
        assert_non_null(fp);
        assert_non_null(fgets(line, sizeof(line), fp)); /* header */
        while (fgets(line, sizeof(line), fp)) {
                if (split_csv(line, f, 3) != 3 || strcmp(f[1], "ksk") ||
                    strcmp(f[2], "failing"))
                        continue;
                x = km_xasprintf("%s%s%s", s, *n ? "," : "", f[0]);
                free(s);
                s = x;
                (*n)++;
        }
        fclose(fp);
        x = km_xasprintf("{%s}", s);
        free(s);
        return x;
}

/* systemic.csv: the generated systemic cases, as a JSON array. */
static char *systemic_cases(int *n)
{
        char path[600], line[256], *f[5], *s;
        json_t *a = json_array();
        FILE *fp;

        snprintf(path, sizeof(path), "%s/systemic.csv", t.datadir);
        fp = fopen(path, "r");
        assert_non_null(fp);
        assert_non_null(fgets(line, sizeof(line), fp)); /* header */
        while (fgets(line, sizeof(line), fp))
                if (split_csv(line, f, 5) == 5)
                        json_array_append_new(
                                a, json_pack("{s:s,s:s,s:s,s:s}", "building_id",
                                             f[0], "category", f[1], "first_at",
                                             f[3], "last_at", f[4]));
        fclose(fp);
        *n = (int)json_array_size(a);
        s = json_dumps(a, JSON_COMPACT);
        json_decref(a);
        return s;
}

/* One row of longs from a parameterised query. */
static void q_longs(const char *sql, int np, const char *const *p, long *v,
                    int nv)
{
        PGresult *res = NULL;
        char err[512];

        if (km_pg_exec(t.conn, sql, np, p, &res, err, sizeof(err)))
                fail_msg("%s", err);
        assert_int_equal(PQntuples(res), 1);
        assert_int_equal(PQnfields(res), nv);
        for (int i = 0; i < nv; i++)
                v[i] = strtol(PQgetvalue(res, 0, i), NULL, 10);
        PQclear(res);
}

static double pct(long a, long b)
{
        return b > 0 ? 100.0 * (double)a / (double)b : 0;
}

static void test_findings(void **state)
{
        int nfail, ncases;
        char *fail = failing_ksks(&nfail), *cases = systemic_cases(&ncases);
        const char *p1[1] = {fail}, *p2[1] = {cases};
        long r[3], e[3], s[3];

        (void)state;
        assert_true(nfail > 0);
        assert_true(ncases > 0);
        /* the rating: rated failing KSKs, of them in the bottom decile,
         * KSKs in the bottom decile */
        q_longs("WITH r AS (SELECT ksk_id, avg(score) AS s FROM ksk_rating"
                " WHERE rated GROUP BY 1),"
                " d AS (SELECT ksk_id, ntile(10) OVER (ORDER BY s, ksk_id)"
                " AS decile FROM r)"
                " SELECT (SELECT count(*) FROM r WHERE ksk_id = ANY($1::text[])),"
                " (SELECT count(*) FROM d WHERE decile = 1"
                " AND ksk_id = ANY($1::text[])),"
                " (SELECT count(*) FROM d WHERE decile = 1)",
                1, p1, r, 3);
        /* inefficient KSKs: named, of them failing */
        q_longs("SELECT count(DISTINCT org_id), count(DISTINCT org_id)"
                " FILTER (WHERE org_id = ANY($1::text[])), count(*)"
                " FROM escalations WHERE kind = 'inefficient_ksk'",
                1, p1, e, 3);
        /* systemic: escalations, of them in a generated case, generated
         * cases found */
        q_longs("WITH c AS (SELECT * FROM json_to_recordset($1::json) AS"
                " x(building_id text, category text, first_at timestamptz,"
                " last_at timestamptz)),"
                " s AS (SELECT e.*, EXISTS (SELECT 1 FROM c WHERE"
                " c.building_id = e.building_id AND c.category = e.category"
                " AND e.window_end BETWEEN c.first_at AND c.last_at) AS real"
                " FROM escalations e WHERE e.kind = 'systemic')"
                " SELECT (SELECT count(*) FROM s),"
                " (SELECT count(*) FROM s WHERE real),"
                " (SELECT count(*) FROM c WHERE EXISTS (SELECT 1 FROM s WHERE"
                " s.building_id = c.building_id AND s.category = c.category"
                " AND s.window_end BETWEEN c.first_at AND c.last_at))",
                1, p2, s, 3);
        print_message("rating: %ld of the %ld rated failing KSKs (%d failing) "
                      "in the bottom decile (%ld KSKs): recall %.0f %% "
                      "(target 80 %%)\n",
                      r[1], r[0], nfail, r[2], pct(r[1], r[0]));
        print_message("inefficient KSK: %ld escalations naming %ld KSKs, %ld "
                      "failing: precision %.0f %% (target 80 %%), recall "
                      "%ld of %d = %.0f %%\n",
                      e[2], e[0], e[1], pct(e[1], e[0]), e[1], nfail,
                      pct(e[1], nfail));
        print_message("systemic: %ld escalations, %ld in a generated case: "
                      "precision %.0f %% (target 80 %%); %ld of %d cases "
                      "found = %.0f %%\n",
                      s[0], s[1], pct(s[1], s[0]), s[2], ncases,
                      pct(s[2], ncases));
        assert_true(r[0] > 0 && pct(r[1], r[0]) >= 80.0);
        assert_true(e[0] > 0 && pct(e[1], e[0]) >= 80.0);
        /* a rule that names almost nobody is precise for nothing: half
         * of the failing KSKs is this test's floor (the issue sets no
         * recall target; the rule of before named 5 of these 12) */
        assert_true(pct(e[1], nfail) >= 50.0);
        assert_true(s[0] > 0 && pct(s[1], s[0]) >= 80.0);
        free(fail);
        free(cases);
}

/* komek-analytics --lag's total (-1 if unreadable). */
static long analytics_lag(void)
{
        const char *args[] = {"--set",   set_votes, "--set",
                              set_group, "--lag",   NULL};
        char *out = NULL, *p;
        long n = -1;

        if (rt_run(&t, "analytics", args, &out) == 0 && out &&
            (p = strstr(out, "total ")) != NULL)
                n = strtol(p + 6, NULL, 10);
        free(out);
        return n;
}

static int run_analytics(void)
{
        const char *args[] = {"--set", set_votes,
                              "--set", set_group,
                              "--set", "analytics.rating_min_complaints=2",
                              "--set", "analytics.rating_min_votes=2",
                              NULL};
        int pid = rt_spawn(&t, "analytics", args, NULL, 0);
        int64_t deadline = km_now_ms() + 300000;
        long lag;

        if (pid <= 0)
                return -1;
        while ((lag = analytics_lag()) != 0 && km_now_ms() < deadline) {
                /* polling the stored offsets against the deadline */
                struct timespec ts = {0, 500 * 1000000L};

                nanosleep(&ts, NULL);
        }
        if (km_test_wait(pid, SIGTERM, 60000) != 0 || lag != 0) {
                fprintf(stderr, "analytics: lag %ld at the deadline\n", lag);
                return -1;
        }
        return 0;
}

static int setup(void **state)
{
        char group[200], sgroup[200], txn[200], path[600], vpath[600],
                name[160];
        const char *rargs[] = {"--set", group, "--set", txn, NULL};
        const char *sargs[] = {"--set", sgroup,
                               "--set", "tasksink.relay_age_ms=500",
                               "--set", "tasksink.relay_ms=200",
                               NULL};
        const char *play[] = {"--set", "inbox.simulation=true", "play", path,
                              NULL};
        const char *vargs[] = {"--set", set_votes, vpath, NULL};
        const char *eargs[] = {"--set",  set_esc,  "--set", set_agroup,
                               "--once", "--name", name,    NULL};
        int unique;
        long want;

        (void)state;
        if (rt_setup(&t, "findings") ||
            rt_gen(&t, "--seed 18 --buildings 8600 --ksks 400 "
                       "--complaints 4860 --votes 5700 --from 2025-01-01 "
                       "--days 364") ||
            rt_import(&t, NULL) || rt_publish(&t, &unique) <= 0 ||
            km_test_topic(&t.conf, votes, sizeof(votes), "votes", 3) ||
            km_test_topic(&t.conf, escalations, sizeof(escalations), "esc", 1))
                return -1;
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        snprintf(set_votes, sizeof(set_votes), "topics.votes=%s", votes);
        snprintf(set_esc, sizeof(set_esc), "topics.escalations=%s",
                 escalations);
        snprintf(set_group, sizeof(set_group), "analytics.group=%s-an",
                 t.schema);
        snprintf(set_agroup, sizeof(set_agroup),
                 "escalator.analytics_group=%s-an", t.schema);
        snprintf(path, sizeof(path), "%s/activity.jsonl", t.datadir);
        snprintf(vpath, sizeof(vpath), "%s/votes.jsonl", t.datadir);
        km_test_name(name, sizeof(name), "findings-esc");
        router = rt_spawn(&t, "router", rargs, NULL, 0);
        sink = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        if (router <= 0 || sink <= 0)
                return -1;
        if (rt_wait_count(&t, "SELECT count(*) FROM tasks", unique, 180000) !=
            unique)
                return -1;
        /* the staff at work; their re-routes written by the sink */
        if (rt_run(&t, "inbox", play, NULL) != 0)
                return -1;
        want = rt_count(&t, "SELECT count(DISTINCT complaint_id) FROM "
                            "task_outbox WHERE topic = 'dispatch'");
        if (want < 0 ||
            rt_wait_count(&t, "SELECT count(*) FROM tasks WHERE attempt > 1",
                          want, 120000) != want)
                return -1;
        if (rt_run(&t, "vote", vargs, NULL) != 0 || run_analytics() != 0 ||
            rt_run(&t, "escalator", eargs, NULL) != 0)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        int r1 = router > 0 ? km_test_wait(router, SIGTERM, 30000) : 0;
        int r2 = sink > 0 ? km_test_wait(sink, SIGTERM, 30000) : 0;

        (void)state;
        rt_teardown(&t);
        return r1 == 0 && r2 == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_findings),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
