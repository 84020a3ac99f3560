/*
 * web_dash_view.c - the dashboard page: filters and week navigation, the
 * week's summary, "now", complaints by category and by district (SVG
 * charts over web.chart_weeks weeks and tables), escalations, the KSK
 * rating with its components and the unrated KSKs apart.  Each table has
 * its CSV (web_csv.c).  Every text from the database is escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"
#include "km_util.h"
#include "web.h"

/* ---- the page ----------------------------------------------------------- */

static void web_wow(struct web_buf *b, long n, long prev)
{
        if (prev <= 0) {
                web_buf_puts(b, "—");
                return;
        }
        double pct = 100.0 * (double)(n - prev) / (double)prev;

        web_buf_printf(b, "<span class=\"%s\">%+.0f%%</span>",
                       pct > 0   ? "up"
                       : pct < 0 ? "down"
                                 : "",
                       pct);
}

static void web_csv_link(struct web_ctx *c, const struct web_dash *d,
                         const char *table)
{
        web_buf_printf(&c->out, "<a class=\"csv\" href=\"/dashboard/%s.csv?",
                       table);
        web_dash_qs(d, &c->out, d->monday);
        web_buf_printf(&c->out, "\">%s%s</a>", web_t(c, M_CSV),
                       strncmp(table, "weekly_", 7) ? ""
                       : c->lang[0] == 'r'          ? " по неделям"
                                                    : " by week");
}

static void web_dash_filters(struct web_ctx *c, struct web_dash *d)
{
        struct web_buf *b = &c->out;
        PGresult *res = web_dash_q(c, d, DQ_DISTRICTS);

        web_buf_printf(b,
                       "<form class=\"filters box\" method=\"get\" "
                       "action=\"/dashboard\"><div><label for=\"week\">%s"
                       "</label><input type=\"text\" id=\"week\" name=\"week\" "
                       "value=\"%s\" size=\"9\" pattern=\"[0-9]{4}-W[0-9]{2}\">"
                       "</div><div><label for=\"district\">%s</label>"
                       "<select id=\"district\" name=\"district\">"
                       "<option value=\"\">%s</option>",
                       web_t(c, M_WEEK), d->label, web_t(c, M_DISTRICT),
                       web_t(c, M_ALL));
        for (int i = 0; res && i < PQntuples(res); i++) {
                const char *v = PQgetvalue(res, i, 0);

                web_buf_puts(b, "<option value=\"");
                web_buf_esc(b, v);
                web_buf_printf(b, "\"%s>",
                               d->district && !strcmp(d->district, v)
                                       ? " selected"
                                       : "");
                web_buf_esc(b, v);
                web_buf_puts(b, "</option>");
        }
        web_buf_printf(b,
                       "</select></div><div><label for=\"category\">%s"
                       "</label><select id=\"category\" name=\"category\">"
                       "<option value=\"\">%s</option>",
                       web_t(c, M_CATEGORY), web_t(c, M_ALL));
        for (size_t i = 0; i < c->w->conf->ncategories; i++) {
                const struct km_category *cat = &c->w->conf->categories[i];

                web_buf_printf(b, "<option value=\"%s\"%s>", cat->code,
                               d->category && !strcmp(d->category, cat->code)
                                       ? " selected"
                                       : "");
                web_buf_esc(b, c->lang[0] == 'r' ? cat->ru : cat->en);
                web_buf_puts(b, "</option>");
        }
        web_buf_printf(b,
                       "</select></div><div><button class=\"primary\" "
                       "type=\"submit\">%s</button></div></form>",
                       web_t(c, M_FILTER));
        web_buf_puts(b, "<nav class=\"pages\"><a id=\"prev-week\" "
                        "href=\"/dashboard?");
        web_dash_qs(d, b, d->monday - 7);
        web_buf_printf(b, "\">← %s</a><a id=\"next-week\" href=\"/dashboard?",
                       web_t(c, M_PREV));
        web_dash_qs(d, b, d->monday + 7);
        web_buf_printf(b, "\">%s →</a></nav>", web_t(c, M_NEXT));
}

static void web_card(struct web_buf *b, const char *id, const char *label,
                     long v)
{
        web_buf_printf(b,
                       "<div class=\"card\"><div class=\"v\" id=\"%s\">%ld"
                       "</div><div class=\"l\">%s</div></div>",
                       id, v, label);
}

static void web_dash_summary(struct web_ctx *c, struct web_dash *d)
{
        PGresult *res = web_dash_q(c, d, DQ_CAT);
        struct web_buf *b = &c->out;
        long n = 0, prev = 0, ytd = 0;

        for (int i = 0; res && i < PQntuples(res); i++) {
                n += atol(PQgetvalue(res, i, 1));
                prev += atol(PQgetvalue(res, i, 2));
                ytd += atol(PQgetvalue(res, i, 3));
        }
        web_buf_puts(b, "<div class=\"cards\" id=\"summary\">");
        web_card(b, "week-count", web_t(c, M_THIS_WEEK), n);
        web_card(b, "prev-count", web_t(c, M_PREV_WEEK), prev);
        web_buf_puts(b, "<div class=\"card\"><div class=\"v\" id=\"wow\">");
        web_wow(b, n, prev);
        web_buf_printf(b, "</div><div class=\"l\">%s</div></div>",
                       web_t(c, M_CHANGE));
        web_card(b, "ytd-count", web_t(c, M_SINCE_JAN), ytd);
        web_buf_puts(b, "</div>");
        web_csv_link(c, d, "summary");
}

static void web_dash_live(struct web_ctx *c, struct web_dash *d)
{
        PGresult *res = web_dash_q(c, d, DQ_LIVE);
        struct web_buf *b = &c->out;
        long open = 0, late = 0, done = 0;

        for (int i = 0; res && i < PQntuples(res); i++) {
                open += atol(PQgetvalue(res, i, 1));
                late += atol(PQgetvalue(res, i, 2));
                done += atol(PQgetvalue(res, i, 3));
        }
        web_buf_printf(b, "<h2>%s", web_t(c, M_NOW));
        web_csv_link(c, d, "now");
        web_buf_puts(b, "</h2><div class=\"cards\" id=\"now\">");
        web_card(b, "live-open", web_t(c, M_OPEN), open);
        web_card(b, "live-overdue", web_t(c, M_OVERDUE), late);
        web_card(b, "live-resolved", web_t(c, M_RESOLVED_WEEK), done);
        web_buf_puts(b, "</div>");
}

/* The chart's weeks: labels of the N Mondays ending with d->monday. */
static char (*web_weeks(const struct web_dash *d, int n))[16]
{
        char(*w)[16] = km_xcalloc((size_t)n, sizeof(*w));

        for (int i = 0; i < n; i++)
                km_time_week_fmt(d->monday - 7 * (int64_t)(n - 1 - i), w[i],
                                 sizeof(w[i]));
        return w;
}

/* A stacked weekly chart from rows (week_start, key, n); key labels by
 * name (categories: their name in the UI language; '' unmatched). */
static void web_dash_chart(struct web_ctx *c, const struct web_dash *d,
                           PGresult *res, int categories, const char *title)
{
        int n = atoi(d->weeks), nkeys = 0, rows = res ? PQntuples(res) : 0;
        char(*weeks)[16] = web_weeks(d, n);
        const char **wl = km_xcalloc((size_t)n, sizeof(*wl));
        const char **keys = km_xcalloc((size_t)rows + 1, sizeof(*keys));
        const char **labels = km_xcalloc((size_t)rows + 1, sizeof(*labels));
        double *v;
        struct web_series s;

        for (int i = 0; i < n; i++)
                wl[i] = weeks[i];
        for (int r = 0; r < rows; r++) { /* keys in order of appearance */
                const char *k = PQgetvalue(res, r, 1);
                int j;

                for (j = 0; j < nkeys && strcmp(keys[j], k); j++)
                        ;
                if (j == nkeys) {
                        keys[nkeys] = k;
                        labels[nkeys++] = categories ? web_category_name(c, k)
                                          : *k       ? k
                                                     : web_t(c, M_UNMATCHED);
                }
        }
        v = km_xcalloc((size_t)(nkeys * n) + 1, sizeof(*v));
        for (int r = 0; r < rows; r++) {
                char label[16];
                int j, i;

                km_time_week_fmt(
                        km_days_from_civil(
                                atoi(PQgetvalue(res, r, 0)),
                                (unsigned)atoi(PQgetvalue(res, r, 0) + 5),
                                (unsigned)atoi(PQgetvalue(res, r, 0) + 8)),
                        label, sizeof(label));
                for (i = 0; i < n && strcmp(weeks[i], label); i++)
                        ;
                for (j = 0; j < nkeys && strcmp(keys[j], PQgetvalue(res, r, 1));
                     j++)
                        ;
                if (i < n && j < nkeys)
                        v[j * n + i] += (double)atol(PQgetvalue(res, r, 2));
        }
        s.nweeks = n;
        s.weeks = wl;
        s.nkeys = nkeys;
        s.keys = labels;
        s.v = v;
        web_svg_stacked(&c->out, title, &s);
        free(v);
        free(labels);
        free(keys);
        free(wl);
        free(weeks);
}

/* Rows (key, this week, previous, since January) as a table. */
static void web_dash_table(struct web_ctx *c, PGresult *res, int categories,
                           const char *id)
{
        struct web_buf *b = &c->out;
        long t[3] = {0, 0, 0};

        web_buf_printf(b,
                       "<table id=\"%s\"><thead><tr><th>%s</th>"
                       "<th class=\"n\">%s</th><th class=\"n\">%s</th>"
                       "<th class=\"n\">%s</th><th class=\"n\">%s</th></tr>"
                       "</thead><tbody>",
                       id, web_t(c, categories ? M_CATEGORY : M_DISTRICT),
                       web_t(c, M_THIS_WEEK), web_t(c, M_PREV_WEEK),
                       web_t(c, M_CHANGE), web_t(c, M_SINCE_JAN));
        for (int i = 0; res && i < PQntuples(res); i++) {
                const char *k = PQgetvalue(res, i, 0);
                long n = atol(PQgetvalue(res, i, 1));
                long prev = atol(PQgetvalue(res, i, 2));

                web_buf_puts(b, "<tr><td>");
                web_buf_esc(b, categories ? web_category_name(c, k)
                               : *k       ? k
                                          : web_t(c, M_UNMATCHED));
                web_buf_printf(b,
                               "</td><td class=\"n\">%ld</td><td "
                               "class=\"n\">%ld</td><td class=\"n\">",
                               n, prev);
                web_wow(b, n, prev);
                web_buf_printf(b, "</td><td class=\"n\">%s</td></tr>",
                               PQgetvalue(res, i, 3));
                t[0] += n;
                t[1] += prev;
                t[2] += atol(PQgetvalue(res, i, 3));
        }
        web_buf_printf(b,
                       "<tr><th>%s</th><th class=\"n\">%ld</th><th "
                       "class=\"n\">%ld</th><th class=\"n\">",
                       web_t(c, M_TOTAL), t[0], t[1]);
        web_wow(b, t[0], t[1]);
        web_buf_printf(b, "</th><th class=\"n\">%ld</th></tr></tbody></table>",
                       t[2]);
}

static void web_dash_escalations(struct web_ctx *c, struct web_dash *d)
{
        PGresult *res = web_dash_q(c, d, DQ_ESC);
        struct web_buf *b = &c->out;

        web_buf_printf(b,
                       "<h2>%s <span class=\"muted\" id=\"esc-count\">%d"
                       "</span>",
                       web_t(c, M_ESCALATIONS), res ? PQntuples(res) : 0);
        web_csv_link(c, d, "escalations");
        web_buf_puts(b, "</h2>");
        if (res == NULL || PQntuples(res) == 0) {
                web_buf_printf(b, "<p>%s</p>", web_t(c, M_NO_ESCALATIONS));
                return;
        }
        web_buf_printf(b,
                       "<table id=\"escalations\"><thead><tr><th>%s</th>"
                       "<th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                       "<th>%s</th><th>%s</th></tr></thead><tbody>",
                       web_t(c, M_WHEN), web_t(c, M_KIND), web_t(c, M_ORG),
                       web_t(c, M_BUILDING), web_t(c, M_CATEGORY),
                       web_t(c, M_DISTRICT), web_t(c, M_EVIDENCE));
        for (int i = 0; i < PQntuples(res) && i < 200; i++) {
                web_buf_printf(b, "<tr><td>%s</td><td>", PQgetvalue(res, i, 0));
                web_buf_esc(b, web_kind_name(c, PQgetvalue(res, i, 1)));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, *PQgetvalue(res, i, 3) ? PQgetvalue(res, i, 3)
                                                      : PQgetvalue(res, i, 2));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, *PQgetvalue(res, i, 5) ? PQgetvalue(res, i, 5)
                                                      : PQgetvalue(res, i, 4));
                web_buf_puts(b, "</td><td>");
                if (*PQgetvalue(res, i, 6))
                        web_buf_esc(
                                b, web_category_name(c, PQgetvalue(res, i, 6)));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 7));
                web_buf_puts(b, "</td><td class=\"muted\">");
                web_buf_esc_n(b, PQgetvalue(res, i, 8), 140);
                web_buf_puts(b, "</td></tr>");
        }
        web_buf_puts(b, "</tbody></table>");
}

/* value (component score); a rate as a percentage */
static void web_comp(struct web_buf *b, PGresult *res, int i, int v, int s,
                     int rate)
{
        if (PQgetisnull(res, i, v))
                web_buf_puts(b, "<td class=\"n\">—");
        else if (rate)
                web_buf_printf(b, "<td class=\"n\">%.1f%%",
                               100 * atof(PQgetvalue(res, i, v)));
        else
                web_buf_printf(b, "<td class=\"n\">%s", PQgetvalue(res, i, v));
        web_buf_printf(b, " <span class=\"muted\">%s</span></td>",
                       PQgetvalue(res, i, s));
}

static void web_rating_rows(struct web_ctx *c, PGresult *res, int from, int to)
{
        struct web_buf *b = &c->out;

        for (int i = from; i < to; i++) {
                web_buf_printf(b, "<tr><td class=\"n\">%s</td><td>",
                               PQgetvalue(res, i, 0));
                web_buf_esc(b, *PQgetvalue(res, i, 3) ? PQgetvalue(res, i, 3)
                                                      : PQgetvalue(res, i, 2));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 4));
                web_buf_printf(b,
                               "</td><td class=\"n\"><b>%s</b></td><td "
                               "class=\"n\">%s</td>",
                               PQgetvalue(res, i, 17), PQgetvalue(res, i, 5));
                web_comp(b, res, i, 6, 12, 0);
                web_comp(b, res, i, 7, 13, 0);
                web_comp(b, res, i, 8, 14, 1);
                web_comp(b, res, i, 9, 15, 1);
                web_comp(b, res, i, 11, 16, 0);
                web_comp(b, res, i, 21, 22, 1); /* disputed resolutions */
                web_buf_puts(b, "</tr>");
        }
}

static void web_dash_rating(struct web_ctx *c, struct web_dash *d)
{
        PGresult *res = web_dash_q(c, d, DQ_RATING);
        struct web_buf *b = &c->out;
        int rows = res ? PQntuples(res) : 0, rated = 0, top;

        while (rated < rows && PQgetvalue(res, rated, 18)[0] == 't')
                rated++;
        web_buf_printf(b,
                       "<h2>%s · %s %s <span class=\"muted\" "
                       "id=\"rated-count\">%d</span>",
                       web_t(c, M_RATING), web_t(c, M_RATING_MONTH),
                       rows ? PQgetvalue(res, 0, 20) : "—", rated);
        web_csv_link(c, d, "rating");
        web_buf_printf(b, "</h2><p class=\"muted\">%s</p>",
                       web_t(c, M_COMPONENTS));
        if (rated > 0) {
                web_buf_printf(b,
                               "<table id=\"rating\"><thead><tr><th "
                               "class=\"n\">%s</th><th>KSK</th><th>%s</th>"
                               "<th class=\"n\">%s</th><th class=\"n\">%s</th>"
                               "<th class=\"n\">%s</th><th class=\"n\">%s</th>"
                               "<th class=\"n\">%s</th><th class=\"n\">%s</th>"
                               "<th class=\"n\">%s</th><th class=\"n\">%s"
                               "</th></tr></thead><tbody>",
                               web_t(c, M_RANK), web_t(c, M_DISTRICT),
                               web_t(c, M_SCORE), web_t(c, M_COMPLAINTS),
                               web_t(c, M_PER100), web_t(c, M_RESOLVE_MEDIAN),
                               web_t(c, M_SLA_RATE), web_t(c, M_REPEAT_RATE),
                               web_t(c, M_AVG_VOTE), web_t(c, M_DISPUTED));
                top = (int)c->w->wc->rating_rows;
                if (rated <= 2 * top) {
                        web_rating_rows(c, res, 0, rated);
                } else {
                        web_buf_printf(b, "<tr><th colspan=\"10\">%s</th></tr>",
                                       web_t(c, M_BEST));
                        web_rating_rows(c, res, 0, top);
                        web_buf_printf(b, "<tr><th colspan=\"10\">%s</th></tr>",
                                       web_t(c, M_WORST));
                        web_rating_rows(c, res, rated - top, rated);
                }
                web_buf_puts(b, "</tbody></table>");
        } else {
                web_buf_printf(b, "<p>%s</p>", web_t(c, M_NO_DATA));
        }
        web_buf_printf(b,
                       "<h2>%s <span class=\"muted\" id=\"unrated-count\">"
                       "%d</span>",
                       web_t(c, M_UNRATED), rows - rated);
        web_csv_link(c, d, "unrated");
        web_buf_puts(b, "</h2>");
        if (rows == rated)
                return;
        web_buf_printf(b,
                       "<table id=\"unrated\"><thead><tr><th>KSK</th>"
                       "<th>%s</th><th>%s</th><th class=\"n\">%s</th>"
                       "<th class=\"n\">%s</th></tr></thead><tbody>",
                       web_t(c, M_DISTRICT), web_t(c, M_UNRATED_REASON),
                       web_t(c, M_COMPLAINTS), web_t(c, M_VOTES));
        for (int i = rated; i < rows && i < rated + 50; i++) {
                web_buf_puts(b, "<tr><td>");
                web_buf_esc(b, *PQgetvalue(res, i, 3) ? PQgetvalue(res, i, 3)
                                                      : PQgetvalue(res, i, 2));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 4));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, web_kind_name(c, PQgetvalue(res, i, 19)));
                web_buf_printf(b,
                               "</td><td class=\"n\">%s</td><td class=\"n\">"
                               "%s</td></tr>",
                               PQgetvalue(res, i, 5), PQgetvalue(res, i, 10));
        }
        if (rows - rated > 50)
                web_buf_printf(b,
                               "<tr><td colspan=\"5\" class=\"muted\">%s 50 "
                               "/ %d (CSV)</td></tr>",
                               web_t(c, M_SHOWN_OF), rows - rated);
        web_buf_puts(b, "</tbody></table>");
}

void web_dashboard(struct web_ctx *c)
{
        struct web_dash d;
        struct web_buf *b = &c->out;
        char from[16], to[16], title[160];

        if (web_dash_init(c, &d)) {
                web_dash_free(c, &d);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                return;
        }
        km_time_day_fmt(d.monday, from, sizeof(from));
        km_time_day_fmt(d.monday + 6, to, sizeof(to));
        web_page_begin(c, web_t(c, M_DASHBOARD));
        web_buf_printf(b,
                       "<h1>%s · %s <span class=\"muted\" id=\"week-label\">"
                       "%s</span> <span class=\"muted\">%s … %s</span></h1>",
                       web_t(c, M_DASHBOARD), web_t(c, M_WEEK), d.label, from,
                       to);
        if (d.latest >= d.monday && d.latest < d.monday + 6) {
                char day[16];

                km_time_day_fmt(d.latest, day, sizeof(day));
                web_buf_printf(b,
                               "<p class=\"muted\" id=\"partial\">%s %s.</p>",
                               web_t(c, M_PARTIAL), day);
        }
        web_dash_filters(c, &d);
        web_dash_summary(c, &d);
        web_dash_live(c, &d);

        web_buf_printf(b, "<h2>%s", web_t(c, M_BY_CATEGORY));
        web_csv_link(c, &d, "categories");
        web_csv_link(c, &d, "weekly_categories");
        web_buf_puts(b, "</h2>");
        snprintf(title, sizeof(title), "%s, %s %s", web_t(c, M_BY_CATEGORY),
                 d.weeks, web_t(c, M_WEEKS_CHART));
        web_dash_chart(c, &d, web_dash_q(c, &d, DQ_SCAT), 1, title);
        web_dash_table(c, web_dash_q(c, &d, DQ_CAT), 1, "by-category");

        web_buf_printf(b, "<h2>%s", web_t(c, M_BY_DISTRICT));
        web_csv_link(c, &d, "districts");
        web_csv_link(c, &d, "weekly_districts");
        web_buf_printf(b, "</h2><p class=\"muted\">%s</p>",
                       web_t(c, M_ROUTED_NOTE));
        snprintf(title, sizeof(title), "%s, %s %s", web_t(c, M_BY_DISTRICT),
                 d.weeks, web_t(c, M_WEEKS_CHART));
        web_dash_chart(c, &d, web_dash_q(c, &d, DQ_SDIST), 0, title);
        web_dash_table(c, web_dash_q(c, &d, DQ_DIST), 0, "by-district");

        web_dash_incidents(c, d.category);
        web_dash_escalations(c, &d);
        web_dash_rating(c, &d);
        web_page_end(c);
        web_dash_free(c, &d);
}
