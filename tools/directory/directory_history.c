/*
 * directory_history.c - responsibility periods (building_orgs,
 * deploy/sql/107_directory_history.sql) kept in step with the buildings
 * an import just wrote, in the import's transaction.
 *
 * After the buildings are written, each building's ksk_id and
 * lift_operator_id are what the file says.  Every (building, kind) whose
 * open period names another organisation (or none) has changed at the
 * effective date: its open period is closed there and the new one opened
 * there.  A building's first period opens at -infinity.  A change on the
 * very day the open period started corrects that period in place (two
 * imports on one day).  An effective date before the start of a period
 * that would change is refused: history is appended, never rewritten.
 *
 * Set-based: one statement finds the changes (and reports them), one
 * checks, three apply (same-day corrections, closing, opening), all over
 * the same DIR_HIST_CH expression.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory.h"
#include "km_pg.h"
#include "km_time.h"
#include "km_util.h"

/* (b, k, old, new, open_from): every (building, kind) whose open period
 * differs from the buildings table.  $1 is the effective time. */
#define DIR_HIST_CH                                                            \
        "WITH want AS (SELECT id AS b, 'ksk'::text AS k, ksk_id AS org "       \
        "FROM buildings WHERE ksk_id IS NOT NULL UNION ALL SELECT id, "        \
        "'lift_operator', lift_operator_id FROM buildings WHERE "              \
        "lift_operator_id IS NOT NULL), cur AS (SELECT building_id AS b, "     \
        "kind AS k, org_id AS org, valid_from FROM building_orgs WHERE "       \
        "valid_to IS NULL), ch AS (SELECT coalesce(w.b, c.b) AS b, "           \
        "coalesce(w.k, c.k) AS k, c.org AS old, w.org AS new, "                \
        "c.valid_from AS open_from FROM want w FULL JOIN cur c ON c.b = "      \
        "w.b AND c.k = w.k WHERE c.org IS DISTINCT FROM w.org) "

int directory_effective(const char *s, int64_t utc_offset_h, int64_t now,
                        int64_t *out, char *err, size_t errlen)
{
        unsigned y, m, d;
        char tail;

        if (s == NULL || *s == '\0') { /* today, local midnight */
                int64_t local = now + utc_offset_h * 3600;

                *out = local - ((local % 86400) + 86400) % 86400 -
                       utc_offset_h * 3600;
                return 0;
        }
        if (sscanf(s, "%4u-%2u-%2u%c", &y, &m, &d, &tail) == 3 &&
            strlen(s) == 10) {
                if (m < 1 || m > 12 || d < 1 || d > 31)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "effective: not a date: %s", s);
                *out = km_days_from_civil(y, m, d) * 86400 -
                       utc_offset_h * 3600;
                return 0;
        }
        if (km_parse_rfc3339(s, out) == 0)
                return 0;
        return km_err_set(err, errlen, KM_ECONFIG,
                          "effective: expected YYYY-MM-DD or an RFC 3339 "
                          "time: %s",
                          s);
}

void directory_hist_free(struct directory_hist *h)
{
        for (size_t i = 0; i < h->n; i++) {
                free(h->v[i].building_id);
                free(h->v[i].kind);
                free(h->v[i].old_org);
                free(h->v[i].new_org);
        }
        free(h->v);
        memset(h, 0, sizeof(*h));
}

static char *dir_hist_dup(PGresult *res, int row, int col)
{
        return PQgetisnull(res, row, col)
                       ? NULL
                       : km_xstrdup(PQgetvalue(res, row, col));
}

/* Refuse changes that would rewrite history (a period starting or ending
 * after the effective date). */
static int dir_hist_check(PGconn *conn, const char *eff, size_t max_errors,
                          char *err, size_t errlen)
{
        const char *p[1] = {eff};
        PGresult *res = NULL;
        int r, n;

        r = km_pg_exec(conn,
                       DIR_HIST_CH
                       "SELECT ch.b, ch.k, max(greatest(h.valid_from, "
                       "coalesce(h.valid_to, h.valid_from)))::text FROM ch "
                       "JOIN building_orgs h ON h.building_id = ch.b AND "
                       "h.kind = ch.k WHERE h.valid_from > $1::timestamptz "
                       "OR h.valid_to > $1::timestamptz GROUP BY 1, 2 "
                       "ORDER BY 1, 2",
                       1, p, &res, err, errlen);
        if (r)
                return r;
        n = PQntuples(res);
        for (int i = 0; i < n && (size_t)i < max_errors; i++)
                fprintf(stderr,
                        "komek-directory: building %s %s: a period runs to "
                        "%s, after the effective date %s\n",
                        PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                        PQgetvalue(res, i, 2), eff);
        PQclear(res);
        if (n)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "%d change(s) before a later period; "
                                  "nothing imported (give a later "
                                  "--effective)",
                                  n);
        return 0;
}

int directory_hist_apply(PGconn *conn, int64_t effective, size_t max_errors,
                         struct directory_hist *out, char *err, size_t errlen)
{
        static const char *const apply[] = {
                /* same day: correct the period that opened today */
                DIR_HIST_CH "UPDATE building_orgs h SET org_id = ch.new, "
                            "recorded_at = now() FROM ch WHERE h.building_id = "
                            "ch.b AND h.kind = ch.k AND h.valid_to IS NULL AND "
                            "h.valid_from = $1::timestamptz AND ch.new IS NOT "
                            "NULL",
                DIR_HIST_CH "DELETE FROM building_orgs h USING ch WHERE "
                            "h.building_id = ch.b AND h.kind = ch.k AND "
                            "h.valid_to IS NULL AND h.valid_from = "
                            "$1::timestamptz AND ch.new IS NULL",
                /* close what changed */
                DIR_HIST_CH
                "UPDATE building_orgs h SET valid_to = "
                "$1::timestamptz, recorded_at = now() FROM ch WHERE "
                "h.building_id = ch.b AND h.kind = ch.k AND "
                "h.valid_to IS NULL",
                /* open the new periods: now every change without one */
                DIR_HIST_CH
                "INSERT INTO building_orgs (building_id, kind, "
                "org_id, valid_from) SELECT ch.b, ch.k, ch.new, CASE "
                "WHEN EXISTS (SELECT 1 FROM building_orgs h WHERE "
                "h.building_id = ch.b AND h.kind = ch.k) THEN "
                "$1::timestamptz ELSE '-infinity' END FROM ch WHERE "
                "ch.new IS NOT NULL",
        };
        char eff[32];
        const char *p[1] = {eff};
        PGresult *res = NULL;
        int r;

        memset(out, 0, sizeof(*out));
        km_fmt_rfc3339(effective, eff, sizeof(eff));
        out->effective = effective;
        if ((r = dir_hist_check(conn, eff, max_errors, err, errlen)))
                return r;
        r = km_pg_exec(conn,
                       DIR_HIST_CH
                       "SELECT ch.b, ch.k, ch.old, ch.new, EXISTS (SELECT 1 "
                       "FROM building_orgs h WHERE h.building_id = ch.b AND "
                       "h.kind = ch.k) FROM ch ORDER BY 1, 2",
                       0, NULL, &res, err, errlen);
        if (r)
                return r;
        out->n = (size_t)PQntuples(res);
        out->v = km_xcalloc(out->n + 1, sizeof(*out->v));
        for (size_t i = 0; i < out->n; i++) {
                struct directory_change *c = &out->v[i];

                c->building_id = dir_hist_dup(res, (int)i, 0);
                c->kind = dir_hist_dup(res, (int)i, 1);
                c->old_org = dir_hist_dup(res, (int)i, 2);
                c->new_org = dir_hist_dup(res, (int)i, 3);
                c->had_history = PQgetvalue(res, (int)i, 4)[0] == 't';
                if (!c->had_history)
                        out->first++;
                else if (c->old_org && c->new_org)
                        out->handovers++;
                else if (c->old_org)
                        out->released++;
                else
                        out->assigned++;
        }
        PQclear(res);
        for (size_t i = 0; i < sizeof(apply) / sizeof(apply[0]); i++)
                if ((r = km_pg_exec(conn, apply[i], 1, p, NULL, err, errlen)))
                        return r;
        return 0;
}

void directory_hist_report(const struct directory_hist *h, FILE *fp)
{
        char eff[32];

        km_fmt_rfc3339(h->effective, eff, sizeof(eff));
        for (size_t i = 0; i < h->n; i++) {
                const struct directory_change *c = &h->v[i];

                if (!c->had_history)
                        continue; /* a new building: counted only */
                fprintf(fp, "responsibility: %s %s: %s -> %s from %s\n",
                        c->building_id, c->kind,
                        c->old_org ? c->old_org : "(none)",
                        c->new_org ? c->new_org : "(none)", eff);
        }
        fprintf(fp,
                "responsibility: %zu handed over, %zu assigned, %zu "
                "released, %zu first periods (effective %s)\n",
                h->handovers, h->assigned, h->released, h->first, eff);
}

int directory_hist_who(const struct km_conf *conf, const char *building,
                       const char *category, const char *at, char *err,
                       size_t errlen)
{
        char when[32];
        const char *p[3] = {building, category, when};
        PGconn *conn = NULL;
        PGresult *res = NULL;
        int64_t t;
        int r;

        if (at == NULL)
                t = km_wall_s();
        else if (km_parse_rfc3339(at, &t))
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "who: time must be RFC 3339: %s", at);
        km_fmt_rfc3339(t, when, sizeof(when));
        conn = km_pg_connect(conf->pg_conninfo, "komek-directory",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        /* the function is the one definition (107); the period is shown */
        r = km_pg_exec(conn,
                       "SELECT h.org_id, h.kind, h.valid_from::text, "
                       "coalesce(h.valid_to::text, ''), o.retired_at IS NOT "
                       "NULL FROM building_periods h JOIN categories c ON "
                       "c.kind = h.kind JOIN organisations o ON o.id = "
                       "h.org_id WHERE h.building_id = $1 AND c.code = $2 "
                       "AND h.org_id = directory_responsible($1, $2, "
                       "$3::timestamptz) AND h.valid_from <= $3::timestamptz "
                       "AND (h.valid_to IS NULL OR $3::timestamptz < "
                       "h.valid_to)",
                       3, p, &res, err, errlen);
        if (r)
                goto cleanup;
        if (PQntuples(res) == 0) {
                printf("%s\t%s\t%s\t-\n", building, category, when);
                r = km_err_set(err, errlen, KM_EINPUT,
                               "nobody on record for %s, %s at %s", building,
                               category, when);
                goto cleanup;
        }
        printf("%s\t%s\t%s\t%s\t%s\tfrom %s\tto %s%s\n", building, category,
               when, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
               PQgetvalue(res, 0, 2),
               *PQgetvalue(res, 0, 3) ? PQgetvalue(res, 0, 3) : "(open)",
               PQgetvalue(res, 0, 4)[0] == 't' ? "\tretired" : "");
cleanup:
        PQclear(res);
        PQfinish(conn);
        return r;
}
