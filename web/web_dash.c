/*
 * web_dash.c - the analysts' week: its queries (read on the analyst pool,
 * SET ROLE komek_analyst, through web_cache) and the page.
 *
 * Sources (docs/analytics.md, docs/web.md): complaints per day and
 * category (web_complaints_daily, 041, from an_daily); with a district
 * filter, and for every per-district figure, routed complaints per day,
 * category and district (web_routed_daily, from an_daily_district);
 * escalations; ksk_rating for the last month that ended by the week's
 * Sunday (as komek-report); "now" from tasks (status columns only).
 * Weeks are ISO weeks of the local day; "since 1 January" runs to the
 * week's Sunday.  The default week is the one of the latest data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_log.h"
#include "km_utf8.h"
#include "km_time.h"
#include "km_util.h"
#include "web.h"

/* d: the complaints of the filter ($2 district, $3 category). */
#define DQ_SRC                                                                 \
        "WITH d AS (SELECT day, category, n FROM web_complaints_daily WHERE "  \
        "$2::text IS NULL AND ($3::text IS NULL OR category = $3) UNION ALL "  \
        "SELECT day, category, n FROM web_routed_daily WHERE $2::text IS NOT " \
        "NULL AND district = $2 AND ($3::text IS NULL OR category = $3)) "
#define DQ_SUMS                                                                \
        "coalesce(sum(n) FILTER (WHERE day >= $1::date), 0), "                 \
        "coalesce(sum(n) FILTER (WHERE day >= $1::date - 7 AND day < "         \
        "$1::date), 0), coalesce(sum(n) FILTER (WHERE day >= "                 \
        "date_trunc('year', $1::date + 6)::date), 0) "
#define DQ_SPAN                                                                \
        "day >= least(date_trunc('year', $1::date + 6)::date, $1::date - 7) "  \
        "AND day < $1::date + 7 "
#define DQ_OFF "(SELECT utc_offset_hours::int FROM an_params)"

static const struct {
        const char *name;
        int nparams; /* $1 week, $2 district, $3 category, $4 weeks */
        int live;
        const char *sql;
} web_dq_def[DQ_N] = {
        [DQ_WEEK] =
                {"week", 0, 0,
                 "SELECT to_char(date_trunc('week', coalesce(max(day), "
                 "(now() AT TIME ZONE 'UTC' + make_interval(hours => " DQ_OFF
                 "))::date)), 'YYYY-MM-DD'), coalesce(max(day)::text, '') "
                 "FROM web_complaints_daily"},
        [DQ_DISTRICTS] = {"districts", 0, 0,
                          "SELECT DISTINCT district FROM buildings ORDER BY 1"},
        [DQ_CAT] = {"categories", 3, 0,
                    DQ_SRC "SELECT category, " DQ_SUMS "FROM d WHERE " DQ_SPAN
                           "GROUP BY category ORDER BY 2 DESC, category"},
        [DQ_DIST] =
                {"districts", 3, 0,
                 "SELECT coalesce(district, ''), " DQ_SUMS
                 "FROM web_routed_daily WHERE ($2::text IS NULL OR district "
                 "= $2) AND ($3::text IS NULL OR category = $3) AND " DQ_SPAN
                 "GROUP BY 1 ORDER BY 2 DESC, 1"},
        [DQ_SCAT] = {"weekly_categories", 4, 0,
                     DQ_SRC
                     "SELECT date_trunc('week', day)::date::text, category, "
                     "sum(n) FROM d WHERE day >= $1::date - 7 * ($4::int - "
                     "1) AND day < $1::date + 7 GROUP BY 1, 2 ORDER BY 1, 2"},
        [DQ_SDIST] =
                {"weekly_districts", 4, 0,
                 "SELECT date_trunc('week', day)::date::text, "
                 "coalesce(district, ''), sum(n) FROM web_routed_daily WHERE "
                 "($2::text IS NULL OR district = $2) AND ($3::text IS NULL "
                 "OR category = $3) AND day >= $1::date - 7 * ($4::int - 1) "
                 "AND day < $1::date + 7 GROUP BY 1, 2 ORDER BY 1, 2"},
        [DQ_ESC] =
                {"escalations", 3, 0,
                 "WITH p AS (SELECT " DQ_OFF " AS off) SELECT "
                 "to_char(e.window_end AT TIME ZONE 'UTC' + make_interval(hours "
                 "=> p.off), 'YYYY-MM-DD HH24:MI'), e.kind, coalesce(e.org_id, "
                 "''), coalesce(o.name, ''), coalesce(e.building_id, ''), "
                 "coalesce(b.street || ' ' || b.house, ''), coalesce(e.category, "
                 "''), coalesce(b.district, o.district, ''), e.evidence::text, "
                 "coalesce(e.complaint_id::text, '') FROM escalations e CROSS "
                 "JOIN p LEFT JOIN buildings b ON b.id = e.building_id LEFT "
                 "JOIN organisations o ON o.id = e.org_id WHERE e.window_end >= "
                 "($1::date::timestamp - make_interval(hours => p.off)) AT TIME "
                 "ZONE 'UTC' AND e.window_end < ($1::date::timestamp + interval "
                 "'7 days' - make_interval(hours => p.off)) AT TIME ZONE 'UTC' "
                 "AND ($2::text IS NULL OR coalesce(b.district, o.district) = "
                 "$2) AND ($3::text IS NULL OR e.category = $3) ORDER BY "
                 "e.window_end DESC, e.kind LIMIT 1000"},
        [DQ_RATING] =
                {"rating", 2, 0,
                 "SELECT rank_city, rank_district, ksk_id, coalesce(name, "
                 "''), coalesce(district, ''), complaints, "
                 "per_100_apartments, resolve_median_h, sla_breach_rate, "
                 "repeat_rate, votes, avg_vote, s_complaints, s_resolution, "
                 "s_sla, s_repeat, s_votes, score, rated, "
                 "coalesce(unrated_reason, ''), month_text, "
                 "disputed_rate, s_disputed FROM ksk_rating "
                 "WHERE month = (date_trunc('month', $1::date + 7) - "
                 "interval '1 month')::date AND ($2::text IS NULL OR "
                 "district = $2) ORDER BY rated DESC, score DESC NULLS LAST, "
                 "rank_city, ksk_id"},
        [DQ_LIVE] =
                {"now", 3, 1,
                 "WITH w AS (SELECT (date_trunc('week', now() AT TIME ZONE "
                 "'UTC' + make_interval(hours => " DQ_OFF ")) - "
                 "make_interval(hours => " DQ_OFF ")) AT TIME ZONE 'UTC' AS "
                 "since) SELECT category, count(*) FILTER (WHERE status IN "
                 "('open', 'acknowledged', 'reopened')), count(*) FILTER "
                 "(WHERE status IN ('open', 'acknowledged', 'reopened') AND "
                 "due_at < now()), count(*) "
                 "FILTER (WHERE status = 'resolved' AND resolved_at >= "
                 "w.since) FROM tasks, w WHERE $1::date IS NOT NULL AND "
                 "(status IN ('open', 'acknowledged', 'reopened') OR "
                 "resolved_at >= "
                 "w.since) AND ($2::text IS NULL OR district = $2) AND "
                 "($3::text IS NULL OR category = $3) GROUP BY category "
                 "ORDER BY category"},
};

/* ---- days and ISO weeks ----------------------------------------------- */

static int64_t web_day_parse(const char *s)
{
        int y, m, dd;

        if (sscanf(s, "%4d-%2d-%2d", &y, &m, &dd) != 3)
                return 0;
        return km_days_from_civil(y, (unsigned)m, (unsigned)dd);
}

/* ---- queries ------------------------------------------------------------ */

PGresult *web_dash_q(struct web_ctx *c, struct web_dash *d, enum web_dq q)
{
        const char *params[4] = {d->week, d->district, d->category, d->weeks};
        const struct web_conf *wc = c->w->wc;
        struct web_buf key = {NULL, 0, 0};
        char err[512];
        int np = web_dq_def[q].nparams;

        if (d->res[q])
                return d->res[q];

        /* the key: the parameters the query reads (live: not the week) */
        web_buf_printf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s", web_dq_def[q].name,
                       np >= 1 && !web_dq_def[q].live ? d->week : "",
                       np < 2        ? ""
                       : d->district ? d->district
                                     : "\x1e",
                       np < 3        ? ""
                       : d->category ? d->category
                                     : "\x1e",
                       np >= 4 ? d->weeks : "");
        d->res[q] = web_cache_query(
                c->w, key.p,
                (int)(web_dq_def[q].live ? wc->live_cache_s : wc->cache_s),
                web_dq_def[q].sql, web_dq_def[q].nparams, params, err,
                sizeof(err));
        if (d->res[q] == NULL)
                km_log_warn("dashboard %s: %s", web_dq_def[q].name, err);
        web_buf_free(&key);
        return d->res[q];
}

void web_dash_free(struct web_ctx *c, struct web_dash *d)
{
        for (int q = 0; q < DQ_N; q++)
                web_cache_release(c->w, d->res[q]);
}

/* The week and filters of the request.  @returns 0, or KM_ERETRY when
 * the database cannot say which week (503). */
int web_dash_init(struct web_ctx *c, struct web_dash *d)
{
        const char *w = web_arg(c, "week");
        const char *dist = web_arg(c, "district");
        const char *cat = web_arg(c, "category");
        PGresult *res;

        memset(d, 0, sizeof(*d));
        snprintf(d->weeks, sizeof(d->weeks), "%lld",
                 (long long)c->w->wc->chart_weeks);
        if (dist && *dist && strlen(dist) <= 64 &&
            km_utf8_valid(dist, strlen(dist), NULL))
                d->district = dist;
        if (cat && km_conf_category(c->w->conf, cat))
                d->category = cat;
        if ((res = web_dash_q(c, d, DQ_WEEK)) == NULL || PQntuples(res) != 1)
                return KM_ERETRY;
        d->latest = *PQgetvalue(res, 0, 1)
                            ? web_day_parse(PQgetvalue(res, 0, 1))
                            : -1;
        if (km_time_week_parse(w, &d->monday))
                d->monday = web_day_parse(PQgetvalue(res, 0, 0));
        km_time_day_fmt(d->monday, d->week, sizeof(d->week));
        km_time_week_fmt(d->monday, d->label, sizeof(d->label));
        return 0;
}

/* "week=...&district=...&category=..." for links (monday: another week). */
void web_dash_qs(const struct web_dash *d, struct web_buf *b, int64_t monday)
{
        char label[16];

        km_time_week_fmt(monday, label, sizeof(label));
        web_buf_printf(b, "week=%s", label);
        if (d->district) {
                web_buf_puts(b, "&amp;district=");
                web_buf_url(b, d->district);
        }
        if (d->category) {
                web_buf_puts(b, "&amp;category=");
                web_buf_url(b, d->category);
        }
}
