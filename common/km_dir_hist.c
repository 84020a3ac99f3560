/*
 * km_dir_hist.c - see km_dir_hist.h.
 *
 * Periods sorted by (building id, kind, valid_from) in one array, found
 * by binary search.  -infinity / open ends are INT64_MIN / INT64_MAX.
 * SECURITY: operator data (komek-directory validated it).
 */
#include "km_dir_hist.h"

#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "km_util.h"

struct km_dir_period {
        char *building_id, *kind, *org_id;
        int64_t from, to; /* [from, to) */
};

struct km_dir_hist {
        size_t n;
        struct km_dir_period *v;
};

static int km_dir_hist_cmp(const char *b1, const char *k1, const char *b2,
                           const char *k2)
{
        int c = strcmp(b1, b2);

        return c ? c : strcmp(k1, k2);
}

int km_dir_hist_load(PGconn *conn, struct km_dir_hist **out, char *err,
                     size_t errlen)
{
        struct km_dir_hist *h = NULL;
        PGresult *res = NULL;
        int r;

        *out = NULL;
        /* ordered as strcmp orders: COLLATE "C" */
        r = km_pg_exec(
                conn,
                "SELECT h.building_id, h.kind, h.org_id, CASE WHEN "
                "isfinite(h.valid_from) THEN extract(epoch FROM "
                "h.valid_from)::bigint END, extract(epoch FROM "
                "h.valid_to)::bigint FROM building_orgs h JOIN (SELECT "
                "building_id, kind FROM building_orgs GROUP BY 1, 2 HAVING "
                "count(*) > 1 OR bool_or(isfinite(valid_from) OR valid_to IS NOT "
                "NULL)) x USING (building_id, kind) ORDER BY h.building_id "
                "COLLATE \"C\", h.kind COLLATE \"C\", h.valid_from",
                0, NULL, &res, err, errlen);
        if (r)
                return r;
        h = km_xcalloc(1, sizeof(*h));
        h->n = (size_t)PQntuples(res);
        h->v = km_xcalloc(h->n + 1, sizeof(*h->v));
        for (size_t i = 0; i < h->n; i++) {
                struct km_dir_period *p = &h->v[i];
                int row = (int)i;

                p->building_id = km_xstrdup(PQgetvalue(res, row, 0));
                p->kind = km_xstrdup(PQgetvalue(res, row, 1));
                p->org_id = km_xstrdup(PQgetvalue(res, row, 2));
                p->from = PQgetisnull(res, row, 3)
                                  ? INT64_MIN
                                  : strtoll(PQgetvalue(res, row, 3), NULL, 10);
                p->to = PQgetisnull(res, row, 4)
                                ? INT64_MAX
                                : strtoll(PQgetvalue(res, row, 4), NULL, 10);
        }
        PQclear(res);
        *out = h;
        return 0;
}

size_t km_dir_hist_nperiods(const struct km_dir_hist *h)
{
        return h ? h->n : 0;
}

void km_dir_hist_destroy(struct km_dir_hist *h)
{
        if (h == NULL)
                return;
        for (size_t i = 0; i < h->n; i++) {
                free(h->v[i].building_id);
                free(h->v[i].kind);
                free(h->v[i].org_id);
        }
        free(h->v);
        free(h);
}

int km_dir_hist_at(const struct km_dir_hist *h, const char *building_id,
                   const char *kind, int64_t t, const char **org_id)
{
        size_t lo = 0, hi;
        int found = 0;

        *org_id = NULL;
        if (h == NULL || h->n == 0 || building_id == NULL || kind == NULL)
                return 0;
        /* the first period of (building, kind) */
        hi = h->n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (km_dir_hist_cmp(h->v[mid].building_id, h->v[mid].kind,
                                    building_id, kind) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (size_t i = lo;
             i < h->n && km_dir_hist_cmp(h->v[i].building_id, h->v[i].kind,
                                         building_id, kind) == 0;
             i++) {
                found = 1;
                if (h->v[i].from <= t && t < h->v[i].to) {
                        *org_id = h->v[i].org_id;
                        break;
                }
        }
        return found;
}

void km_dir_hist_route(const struct km_dir_hist *h, const struct km_dir *dir,
                       const struct km_conf *conf, const struct km_complaint *c,
                       struct km_route *r)
{
        const struct km_category *cat;
        const struct km_dir_org *org;
        const char *org_id;

        if (h == NULL || h->n == 0 || r->building == NULL)
                return;
        cat = km_conf_category(conf, c->category);
        if (cat == NULL || !km_dir_hist_at(h, r->building->id, cat->kind,
                                           c->received_at, &org_id))
                return;
        org = org_id ? km_dir_org(dir, org_id) : NULL;
        if (org == NULL || strcmp(org->kind, cat->kind) != 0) {
                r->org = km_dir_triage(dir);
                r->reason = "no_organisation";
                return;
        }
        if (r->org != org && strcmp(r->reason, "no_organisation") == 0)
                r->reason = "history"; /* the building's, on the day */
        r->org = org;
}
