/*
 * web_csv.c - GET /dashboard/{table}.csv: each table of the dashboard for
 * the same week and filters, as RFC 4180 CSV (UTF-8, a header row, CRLF),
 * downloaded as komek-<table>-<week>.csv.  Fields are escaped and
 * defused against spreadsheet formulas (web_buf_csv).
 *
 *   summary            week, district, category, this_week, previous_week,
 *                      wow_pct, since_1_january
 *   categories         category, name, this_week, previous_week, wow_pct,
 *                      since_1_january
 *   districts          district, this_week, previous_week, wow_pct,
 *                      since_1_january
 *   weekly_categories  week_start, iso_week, category, n
 *   weekly_districts   week_start, iso_week, district, n
 *   escalations        window_end_local, kind, org_id, org_name,
 *                      building_id, address, category, district, evidence,
 *                      complaint_id
 *   rating, unrated    month, rank_city, rank_district, ksk_id, name,
 *                      district, complaints, per_100_apartments,
 *                      resolve_median_h, sla_breach_rate, repeat_rate,
 *                      votes, avg_vote, s_complaints, s_resolution, s_sla,
 *                      s_repeat, s_votes, score, unrated_reason
 *   now                category, open, overdue, resolved_this_week
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"
#include "km_util.h"
#include "web.h"

static void web_csv_row(struct web_buf *b, int n, const char *const *v)
{
        for (int i = 0; i < n; i++) {
                if (i)
                        web_buf_puts(b, ",");
                web_buf_csv(b, v[i] ? v[i] : "");
        }
        web_buf_puts(b, "\r\n");
}

static void web_csv_pct(char *buf, size_t len, long n, long prev)
{
        if (prev > 0)
                snprintf(buf, len, "%.1f",
                         100.0 * (double)(n - prev) / (double)prev);
        else
                buf[0] = '\0';
}

/* categories / districts / summary from rows (key, n, prev, ytd). */
static void web_csv_sums(struct web_ctx *c, struct web_dash *d, PGresult *res,
                         const char *table)
{
        struct web_buf *b = &c->out;
        long t[3] = {0, 0, 0};
        char pct[32], n[24], p[24], y[24];
        int cats = !strcmp(table, "categories");

        if (!strcmp(table, "summary")) {
                const char *h[] = {"week",           "district",
                                   "category",       "this_week",
                                   "previous_week",  "wow_pct",
                                   "since_1_january"};

                web_csv_row(b, 7, h);
        } else if (cats) {
                const char *h[] = {"category",  "name",
                                   "this_week", "previous_week",
                                   "wow_pct",   "since_1_january"};

                web_csv_row(b, 6, h);
        } else {
                const char *h[] = {"district", "this_week", "previous_week",
                                   "wow_pct", "since_1_january"};

                web_csv_row(b, 5, h);
        }
        for (int i = 0; res && i < PQntuples(res); i++) {
                long vn = atol(PQgetvalue(res, i, 1));
                long vp = atol(PQgetvalue(res, i, 2));

                t[0] += vn;
                t[1] += vp;
                t[2] += atol(PQgetvalue(res, i, 3));
                web_csv_pct(pct, sizeof(pct), vn, vp);
                if (cats) {
                        const char *v[] = {
                                PQgetvalue(res, i, 0),
                                web_category_name(c, PQgetvalue(res, i, 0)),
                                PQgetvalue(res, i, 1),
                                PQgetvalue(res, i, 2),
                                pct,
                                PQgetvalue(res, i, 3)};

                        web_csv_row(b, 6, v);
                } else if (strcmp(table, "summary")) {
                        const char *v[] = {PQgetvalue(res, i, 0),
                                           PQgetvalue(res, i, 1),
                                           PQgetvalue(res, i, 2), pct,
                                           PQgetvalue(res, i, 3)};

                        web_csv_row(b, 5, v);
                }
        }
        if (!strcmp(table, "summary")) {
                snprintf(n, sizeof(n), "%ld", t[0]);
                snprintf(p, sizeof(p), "%ld", t[1]);
                snprintf(y, sizeof(y), "%ld", t[2]);
                web_csv_pct(pct, sizeof(pct), t[0], t[1]);
                {
                        const char *v[] = {d->label, d->district, d->category,
                                           n,        p,           pct,
                                           y};

                        web_csv_row(b, 7, v);
                }
        }
}

static void web_csv_weekly(struct web_ctx *c, PGresult *res, int cats)
{
        const char *h[] = {"week_start", "iso_week",
                           cats ? "category" : "district", "n"};
        struct web_buf *b = &c->out;

        web_csv_row(b, 4, h);
        for (int i = 0; res && i < PQntuples(res); i++) {
                const char *s = PQgetvalue(res, i, 0);
                char label[16];

                km_time_week_fmt(km_days_from_civil(atoi(s),
                                                    (unsigned)atoi(s + 5),
                                                    (unsigned)atoi(s + 8)),
                                 label, sizeof(label));
                {
                        const char *v[] = {s, label, PQgetvalue(res, i, 1),
                                           PQgetvalue(res, i, 2)};

                        web_csv_row(b, 4, v);
                }
        }
}

static void web_csv_rating(struct web_ctx *c, PGresult *res, int rated)
{
        static const char *const h[] = {"month",
                                        "rank_city",
                                        "rank_district",
                                        "ksk_id",
                                        "name",
                                        "district",
                                        "complaints",
                                        "per_100_apartments",
                                        "resolve_median_h",
                                        "sla_breach_rate",
                                        "repeat_rate",
                                        "votes",
                                        "avg_vote",
                                        "s_complaints",
                                        "s_resolution",
                                        "s_sla",
                                        "s_repeat",
                                        "s_votes",
                                        "score",
                                        "unrated_reason",
                                        "disputed_rate",
                                        "s_disputed"};
        struct web_buf *b = &c->out;

        web_csv_row(b, 22, h);
        for (int i = 0; res && i < PQntuples(res); i++) {
                const char *v[22];

                if ((PQgetvalue(res, i, 18)[0] == 't') != rated)
                        continue;
                v[0] = PQgetvalue(res, i, 20);
                for (int j = 0; j < 18; j++)
                        v[j + 1] = PQgetvalue(res, i, j);
                v[19] = PQgetvalue(res, i, 19);
                v[20] = PQgetvalue(res, i, 21);
                v[21] = PQgetvalue(res, i, 22);
                web_csv_row(b, 22, v);
        }
}

static void web_csv_plain(struct web_ctx *c, PGresult *res, int n,
                          const char *const *h)
{
        struct web_buf *b = &c->out;

        web_csv_row(b, n, h);
        for (int i = 0; res && i < PQntuples(res); i++) {
                const char *v[16];

                for (int j = 0; j < n && j < 16; j++)
                        v[j] = PQgetvalue(res, i, j);
                web_csv_row(b, n, v);
        }
}

void web_dashboard_csv(struct web_ctx *c, const char *table)
{
        static const char *const esc[] = {
                "window_end_local", "kind",        "org_id",   "org_name",
                "building_id",      "address",     "category", "district",
                "evidence",         "complaint_id"};
        static const char *const now[] = {"category", "open", "overdue",
                                          "resolved_this_week"};
        static const struct {
                const char *name;
                enum web_dq q;
        } tables[] = {
                {"summary", DQ_CAT},
                {"categories", DQ_CAT},
                {"districts", DQ_DIST},
                {"weekly_categories", DQ_SCAT},
                {"weekly_districts", DQ_SDIST},
                {"escalations", DQ_ESC},
                {"rating", DQ_RATING},
                {"unrated", DQ_RATING},
                {"now", DQ_LIVE},
        };
        struct web_dash d;
        PGresult *res;
        size_t t;

        for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
                if (!strcmp(tables[t].name, table))
                        break;
        if (t == sizeof(tables) / sizeof(tables[0])) {
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                return;
        }
        if (web_dash_init(c, &d) ||
            (res = web_dash_q(c, &d, tables[t].q)) == NULL) {
                web_dash_free(c, &d);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                return;
        }
        c->ctype = "text/csv; charset=utf-8";
        snprintf(c->disposition, sizeof(c->disposition),
                 "attachment; filename=\"komek-%s-%s.csv\"", table, d.label);
        if (tables[t].q == DQ_CAT || tables[t].q == DQ_DIST)
                web_csv_sums(c, &d, res, table);
        else if (tables[t].q == DQ_SCAT || tables[t].q == DQ_SDIST)
                web_csv_weekly(c, res, tables[t].q == DQ_SCAT);
        else if (tables[t].q == DQ_RATING)
                web_csv_rating(c, res, !strcmp(table, "rating"));
        else if (tables[t].q == DQ_ESC)
                web_csv_plain(c, res, 10, esc);
        else
                web_csv_plain(c, res, 4, now);
        web_dash_free(c, &d);
}
