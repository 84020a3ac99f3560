/*
 * tcheck_esc.c - escalations: the rows against expect.c's recomputation,
 * and the topic: one message per row, none twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_test.h"
#include "km_util.h"
#include "tcheck.h"

static int tc_cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

long tc_check_escalations(const struct fx_data *d, int64_t now,
                          const struct ex_esc_params *p)
{
        static const char *const kinds[3] = {"sla_breach", "systemic",
                                             "inefficient_ksk"};
        struct ex_esc *e = NULL;
        size_t n = ex_escalations(d, now, p, &e);
        char **want = km_xcalloc(n + 1, sizeof(char *));
        long per[3] = {0, 0, 0}, bad = 0;
        PGresult *res;
        int got;

        for (size_t i = 0; i < n; i++) {
                want[i] = km_xasprintf("%s|%s", kinds[e[i].kind], e[i].subject);
                per[e[i].kind]++;
        }
        free(e);
        print_message("escalations expected: sla_breach %ld, systemic %ld, "
                      "inefficient_ksk %ld\n",
                      per[0], per[1], per[2]);
        assert_true(per[0] > 0 && per[1] > 0 && per[2] > 0);
        qsort(want, n, sizeof(char *), tc_cmp_str);
        res = tc_query(
                "SELECT k FROM (SELECT kind || '|' || CASE kind WHEN 'sla_breach' THEN "
                "complaint_id::text WHEN 'systemic' THEN building_id || '|' || "
                "category || '|' || to_char(window_end AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') ELSE org_id || '|' || "
                "(evidence->>'month') END AS k FROM escalations) x ORDER BY k COLLATE \"C\"");
        got = PQntuples(res);
        for (size_t i = 0, j = 0; i < n || j < (size_t)got;) {
                int c = i == n ? 1
                        : j == (size_t)got
                                ? -1
                                : strcmp(want[i], PQgetvalue(res, (int)j, 0));

                if (c && bad++ < 10)
                        print_error("escalation %s %s\n",
                                    c < 0 ? want[i]
                                          : PQgetvalue(res, (int)j, 0),
                                    c < 0 ? "missing" : "unexpected");
                if (c <= 0)
                        i++;
                if (c >= 0)
                        j++;
        }
        PQclear(res);
        for (size_t i = 0; i < n; i++)
                free(want[i]);
        free(want);
        if (bad || (size_t)got != n)
                fail_msg("escalations: got %d rows, want %zu (%ld differences)",
                         got, n, bad);
        res = tc_query("SELECT count(*) FROM escalations WHERE published_at "
                       "IS NULL OR evidence IS NULL");
        assert_string_equal(PQgetvalue(res, 0, 0), "0");
        PQclear(res);
        return got;
}

static int tc_esc_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct tc_ids *s = opaque;
        json_t *m = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(m, "escalation_id"));

        s->ids = km_xrealloc(s->ids, (s->n + 1) * sizeof(char *));
        s->ids[s->n++] = km_xstrdup(id ? id : "(none)");
        json_decref(m);
        return 0;
}

void tc_escalation_ids(struct fx_env *env, struct tc_ids *s)
{
        s->ids = NULL;
        s->n = 0;
        assert_true(km_test_read_to_end(&env->conf, env->topics[FX_ESC],
                                        "read_committed", 60000, tc_esc_cb,
                                        s) >= 0);
        qsort(s->ids, s->n, sizeof(char *), tc_cmp_str);
}

void tc_ids_free(struct tc_ids *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->ids[i]);
        free(s->ids);
}

long tc_check_escalation_topic(struct fx_env *env)
{
        struct tc_ids s;
        long dups = 0;

        /* the escalator has exited: read to the end, no settle time */
        tc_escalation_ids(env, &s);
        for (size_t i = 1; i < s.n; i++)
                dups += strcmp(s.ids[i - 1], s.ids[i]) == 0;
        tc_ids_free(&s);
        if (dups)
                fail_msg("escalations topic: %ld message(s) twice", dups);
        return (long)s.n;
}
