/*
 * report_data.c - read one week's figures from the analytics tables and
 * views (030-032).  Weeks are ISO weeks of the local day (an_daily.day);
 * "since 1 January" runs from 1 January of the year of the week's Sunday
 * to that Sunday.  The rating shown is the last calendar month that ended
 * on or before the week's Sunday.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "km_time.h"
#include "km_util.h"
#include "report.h"

static char *rp_dup(PGresult *res, int i, int c)
{
        return PQgetisnull(res, i, c) ? NULL
                                      : km_xstrdup(PQgetvalue(res, i, c));
}

static double rp_dbl(PGresult *res, int i, int c)
{
        return PQgetisnull(res, i, c) ? NAN : atof(PQgetvalue(res, i, c));
}

static double rp_wow(long n, long prev)
{
        return prev > 0 ? 100.0 * (double)(n - prev) / (double)prev : NAN;
}

static int rp_q(PGconn *conn, const char *sql, const struct rp_data *d,
                long extra, PGresult **res, char *err, size_t errlen)
{
        char ws[16], we[16], x[24];
        const char *params[3] = {ws, we, x};

        km_time_day_fmt(d->ws, ws, sizeof(ws));
        km_time_day_fmt(d->we, we, sizeof(we));
        snprintf(x, sizeof(x), "%ld", extra);
        return km_pg_exec(conn, sql, 3, params, res, err, errlen);
}

/* Rows (code, ru, en, n, prev, ytd) into a table; shares of the week. */
static int rp_rows(PGconn *conn, const char *sql, const struct rp_data *d,
                   struct rp_row **out, size_t *nout, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r = rp_q(conn, sql, d, 0, &res, err, errlen);
        long total = 0;

        if (r)
                return r;
        *nout = (size_t)PQntuples(res);
        *out = km_xcalloc(*nout + 1, sizeof(**out));
        for (size_t i = 0; i < *nout; i++) {
                struct rp_row *w = &(*out)[i];

                w->code = rp_dup(res, (int)i, 0);
                w->ru = rp_dup(res, (int)i, 1);
                w->en = rp_dup(res, (int)i, 2);
                w->n = atol(PQgetvalue(res, (int)i, 3));
                w->prev = atol(PQgetvalue(res, (int)i, 4));
                w->ytd = atol(PQgetvalue(res, (int)i, 5));
                w->wow = rp_wow(w->n, w->prev);
                total += w->n;
        }
        for (size_t i = 0; i < *nout; i++)
                (*out)[i].share =
                        total > 0 ? 100.0 * (double)(*out)[i].n / (double)total
                                  : NAN;
        PQclear(res);
        return 0;
}

static const char rp_sql_cats[] =
        "SELECT c.code, c.name_ru, c.name_en,"
        " coalesce(sum(a.n) FILTER (WHERE a.day BETWEEN $1::date AND $2::date), 0),"
        " coalesce(sum(a.n) FILTER (WHERE a.day BETWEEN $1::date - 7"
        " AND $2::date - 7), 0),"
        " coalesce(sum(a.n) FILTER (WHERE a.day BETWEEN make_date(extract(year"
        " FROM $2::date)::int, 1, 1) AND $2::date), 0)"
        " FROM (SELECT code, name_ru, name_en FROM categories UNION SELECT"
        " DISTINCT category, category, category FROM an_daily WHERE category NOT"
        " IN (SELECT code FROM categories)) c"
        " LEFT JOIN an_daily a ON a.category = c.code AND a.day BETWEEN"
        " least($1::date - 7, make_date(extract(year FROM $2::date)::int, 1, 1))"
        " AND $2::date"
        " WHERE $3::int = 0 GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1";

static const char rp_sql_districts[] =
        "SELECT district, nullif(district, ''), nullif(district, ''),"
        " coalesce(sum(n) FILTER (WHERE day BETWEEN $1::date AND $2::date), 0),"
        " coalesce(sum(n) FILTER (WHERE day BETWEEN $1::date - 7"
        " AND $2::date - 7), 0), 0"
        " FROM an_daily_district WHERE day BETWEEN $1::date - 7 AND $2::date"
        " AND $3::int = 0 GROUP BY 1 HAVING sum(n) FILTER (WHERE day BETWEEN"
        " $1::date AND $2::date) > 0 ORDER BY 4 DESC, 1";

static const char rp_sql_channels[] =
        "SELECT channel, channel, channel,"
        " coalesce(sum(n) FILTER (WHERE day BETWEEN $1::date AND $2::date), 0),"
        " coalesce(sum(n) FILTER (WHERE day BETWEEN $1::date - 7"
        " AND $2::date - 7), 0), 0"
        " FROM an_daily WHERE day BETWEEN $1::date - 7 AND $2::date"
        " AND $3::int = 0 GROUP BY 1 HAVING sum(n) FILTER (WHERE day BETWEEN"
        " $1::date AND $2::date) > 0 ORDER BY 4 DESC, 1";

static const char rp_sql_worst[] =
        "SELECT t.org_id, coalesce(a.name, t.org_id), a.district, a.apartments,"
        " count(*), round(100.0 * count(*) / a.apartments, 2),"
        " count(*) FILTER (WHERE t.sla_breached)"
        " FROM task_times t JOIN org_apartments a ON a.org_id = t.org_id"
        " WHERE t.org_kind = 'ksk' AND t.rejected_at IS NULL AND a.apartments > 0"
        " AND t.day BETWEEN $1::date AND $2::date"
        " GROUP BY 1, 2, 3, 4 HAVING count(*) >= $3::int"
        " ORDER BY 6 DESC, 5 DESC, 1";

static const char rp_sql_esc[] =
        "SELECT kind, count(*) FROM escalations e, an_params p"
        " WHERE ((e.window_end AT TIME ZONE 'UTC') + make_interval(secs =>"
        " p.utc_offset_hours * 3600))::date BETWEEN $1::date AND $2::date"
        " AND $3::int = 0 GROUP BY 1";

static const char rp_sql_series[] =
        "SELECT (date_trunc('week', day)::date - date '1970-01-01'), category,"
        " sum(n) FROM an_daily WHERE day BETWEEN $1::date - 7 * ($3::int - 1)"
        " AND $2::date GROUP BY 1, 2";

static const char rp_sql_rating[] =
        "SELECT ksk_id, coalesce(name, ksk_id), district, unrated_reason, rated,"
        " complaints, votes, rank_city, rank_district, per_100_apartments,"
        " resolve_median_h, sla_breach_rate, repeat_rate, avg_vote, score,"
        " month_text FROM ksk_rating"
        " WHERE month = (date_trunc('month', $2::date + 1) - interval '1 month')::date"
        " AND $3::int = $3::int AND $1::date IS NOT NULL"
        " ORDER BY rated DESC, rank_city, ksk_id";

static int rp_worst(PGconn *conn, const struct report_conf *rc,
                    struct rp_data *d, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r = rp_q(conn, rp_sql_worst, d, (long)rc->worst_min_complaints,
                     &res, err, errlen);

        if (r)
                return r;
        d->nworst = (size_t)PQntuples(res);
        if (d->nworst > (size_t)rc->top)
                d->nworst = (size_t)rc->top;
        d->worst = km_xcalloc(d->nworst + 1, sizeof(*d->worst));
        for (size_t i = 0; i < d->nworst; i++) {
                struct rp_ksk *k = &d->worst[i];

                k->id = rp_dup(res, (int)i, 0);
                k->name = rp_dup(res, (int)i, 1);
                k->district = rp_dup(res, (int)i, 2);
                k->apartments = atol(PQgetvalue(res, (int)i, 3));
                k->n = atol(PQgetvalue(res, (int)i, 4));
                k->per100 = rp_dbl(res, (int)i, 5);
                k->breaches = atol(PQgetvalue(res, (int)i, 6));
        }
        PQclear(res);
        return 0;
}

static int rp_escalations(PGconn *conn, struct rp_data *d, char *err,
                          size_t errlen)
{
        static const char *const kinds[3] = {"sla_breach", "systemic",
                                             "inefficient_ksk"};
        PGresult *res = NULL;
        int r = rp_q(conn, rp_sql_esc, d, 0, &res, err, errlen);

        if (r)
                return r;
        for (int i = 0; i < PQntuples(res); i++)
                for (int k = 0; k < 3; k++)
                        if (!strcmp(PQgetvalue(res, i, 0), kinds[k]))
                                d->esc[k] = atol(PQgetvalue(res, i, 1));
        PQclear(res);
        return 0;
}

static int rp_series(PGconn *conn, const struct report_conf *rc,
                     struct rp_data *d, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int64_t first = d->ws;
        int r = rp_q(conn, rp_sql_series, d, (long)rc->chart_weeks, &res, err,
                     errlen);

        if (r)
                return r;
        for (int i = 0; i < PQntuples(res);
             i++) { /* from the first week with data */
                int64_t w = atoll(PQgetvalue(res, i, 0));

                if (w < first)
                        first = w;
        }
        d->nweeks = (size_t)((d->ws - first) / 7 + 1);
        d->week_starts = km_xcalloc(d->nweeks, sizeof(int64_t));
        d->series =
                km_xcalloc(d->nweeks * (d->ncats ? d->ncats : 1), sizeof(long));
        d->week_totals = km_xcalloc(d->nweeks, sizeof(long));
        for (size_t w = 0; w < d->nweeks; w++)
                d->week_starts[w] = first + 7 * (int64_t)w;
        for (int i = 0; i < PQntuples(res); i++) {
                size_t w = (size_t)((atoll(PQgetvalue(res, i, 0)) - first) / 7);
                long n = atol(PQgetvalue(res, i, 2));

                for (size_t c = 0; c < d->ncats && w < d->nweeks; c++)
                        if (!strcmp(d->cats[c].code, PQgetvalue(res, i, 1))) {
                                d->series[w * d->ncats + c] += n;
                                d->week_totals[w] += n;
                        }
        }
        PQclear(res);
        return 0;
}

static int rp_rating(PGconn *conn, struct rp_data *d, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r = rp_q(conn, rp_sql_rating, d, 0, &res, err, errlen);
        int y, m, dd;

        if (r)
                return r;
        km_civil_from_days(d->we + 1, &y, &m, &dd);
        snprintf(d->rating_month, sizeof(d->rating_month), "%04d-%02d",
                 m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1);
        d->nrating = (size_t)PQntuples(res);
        d->rating = km_xcalloc(d->nrating + 1, sizeof(*d->rating));
        for (size_t i = 0; i < d->nrating; i++) {
                struct rp_rate *k = &d->rating[i];
                int row = (int)i;

                k->id = rp_dup(res, row, 0);
                k->name = rp_dup(res, row, 1);
                k->district = rp_dup(res, row, 2);
                k->reason = rp_dup(res, row, 3);
                k->rated = PQgetvalue(res, row, 4)[0] == 't';
                d->nrated += (size_t)k->rated;
                k->complaints = atol(PQgetvalue(res, row, 5));
                k->votes = atol(PQgetvalue(res, row, 6));
                k->rank_city = atol(PQgetvalue(res, row, 7));
                k->rank_district = atol(PQgetvalue(res, row, 8));
                k->per100 = rp_dbl(res, row, 9);
                k->res_med = rp_dbl(res, row, 10);
                k->breach = rp_dbl(res, row, 11);
                k->repeat = rp_dbl(res, row, 12);
                k->avg_vote = rp_dbl(res, row, 13);
                k->score = rp_dbl(res, row, 14);
        }
        PQclear(res);
        return 0;
}

int report_load(PGconn *conn, const struct report_conf *rc, int64_t monday,
                struct rp_data *d, char *err, size_t errlen)
{
        int m, dd, r;

        memset(d, 0, sizeof(*d));
        d->ws = monday;
        d->we = monday + 6;
        km_time_week_fmt(monday, d->iso_week, sizeof(d->iso_week));
        km_civil_from_days(d->we, &d->year, &m, &dd);
        r = rp_rows(conn, rp_sql_cats, d, &d->cats, &d->ncats, err, errlen);
        if (r == 0)
                r = rp_rows(conn, rp_sql_districts, d, &d->districts,
                            &d->ndistricts, err, errlen);
        if (r == 0)
                r = rp_rows(conn, rp_sql_channels, d, &d->channels,
                            &d->nchannels, err, errlen);
        if (r)
                return r;
        for (size_t i = 0; i < d->ncats; i++) {
                d->n += d->cats[i].n;
                d->prev += d->cats[i].prev;
                d->ytd += d->cats[i].ytd;
        }
        d->wow = rp_wow(d->n, d->prev);
        r = rp_worst(conn, rc, d, err, errlen);
        if (r == 0)
                r = rp_escalations(conn, d, err, errlen);
        if (r == 0)
                r = rp_series(conn, rc, d, err, errlen);
        if (r == 0)
                r = rp_rating(conn, d, err, errlen);
        return r;
}

static void rp_rows_free(struct rp_row *w, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(w[i].code);
                free(w[i].ru);
                free(w[i].en);
        }
        free(w);
}

void report_data_free(struct rp_data *d)
{
        rp_rows_free(d->cats, d->ncats);
        rp_rows_free(d->districts, d->ndistricts);
        rp_rows_free(d->channels, d->nchannels);
        for (size_t i = 0; i < d->nworst; i++) {
                free(d->worst[i].id);
                free(d->worst[i].name);
                free(d->worst[i].district);
        }
        free(d->worst);
        for (size_t i = 0; i < d->nrating; i++) {
                free(d->rating[i].id);
                free(d->rating[i].name);
                free(d->rating[i].district);
                free(d->rating[i].reason);
        }
        free(d->rating);
        free(d->week_starts);
        free(d->series);
        free(d->week_totals);
}
