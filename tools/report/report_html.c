/*
 * report_html.c - the weekly summary as one self-contained HTML file: no
 * script, no font, no image or style from the network; the charts are
 * inline SVG (weekly complaints by category over the chart weeks, the
 * week-over-week change of the total) and the KSK rating is a table with
 * an SVG bar per score.  Organisation names come from the database and
 * are escaped.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "km_time.h"
#include "report.h"

#define RP_W 960
#define RP_H 340
#define RP_ML 56
#define RP_MR 16
#define RP_MT 16
#define RP_MB 44
#define RP_UNRATED_ROWS 50 /* unrated KSKs listed; the rest counted */

static const char *const rp_colors[] = {
        "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd",
        "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#7f7f7f",
};

struct rp_html {
        FILE *fp;
        int ru, en;
};

static void rp_esc(FILE *fp, const char *s)
{
        for (; s && *s; s++) {
                switch (*s) {
                case '&':
                        fputs("&amp;", fp);
                        break;
                case '<':
                        fputs("&lt;", fp);
                        break;
                case '>':
                        fputs("&gt;", fp);
                        break;
                case '"':
                        fputs("&quot;", fp);
                        break;
                case '\'':
                        fputs("&#39;", fp);
                        break;
                default:
                        fputc(*s, fp);
                }
        }
}

/* A label in the chosen language(s): "Жалобы / Complaints" (once when
 * both are the same, as a district's name). */
static void rp_l(const struct rp_html *h, const char *ru, const char *en)
{
        if (h->ru && h->en && strcmp(ru, en) != 0) {
                rp_esc(h->fp, ru);
                fputs(" / ", h->fp);
                rp_esc(h->fp, en);
        } else {
                rp_esc(h->fp, h->ru ? ru : en);
        }
}

/* The smallest 1, 2, 2.5 or 5 x 10^k not below x. */
static double rp_nice(double x)
{
        double p = 1;

        if (x <= 0)
                return 1;
        while (p * 10 <= x)
                p *= 10;
        while (p > x * 10)
                p /= 10;
        return x <= p         ? p
               : x <= 2 * p   ? 2 * p
               : x <= 2.5 * p ? 2.5 * p
               : x <= 5 * p   ? 5 * p
                              : 10 * p;
}

static void rp_svg_open(const struct rp_html *h, const char *id, const char *ru,
                        const char *en)
{
        fprintf(h->fp,
                "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
                "<title>",
                id, RP_W, RP_H, RP_W, RP_H);
        rp_l(h, ru, en);
        fputs("</title>\n", h->fp);
}

static void rp_axis(const struct rp_html *h, double lo, double hi, int ticks,
                    const char *suffix)
{
        int ph = RP_H - RP_MT - RP_MB;

        for (int i = 0; i <= ticks; i++) {
                double v = lo + (hi - lo) * i / ticks;
                double y = RP_MT + ph - ph * (v - lo) / (hi - lo);

                fprintf(h->fp,
                        "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                        "stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" "
                        "font-size=\"11\" text-anchor=\"end\">%.0f%s</text>\n",
                        RP_ML, RP_W - RP_MR, y, y, RP_ML - 6, y + 4, v, suffix);
        }
}

static void rp_xlabels(const struct rp_html *h, const struct rp_data *d,
                       double bw)
{
        size_t step = d->nweeks > 26 ? 4 : d->nweeks > 12 ? 2 : 1;

        for (size_t w = 0; w < d->nweeks; w += step) {
                char day[16];

                km_time_day_fmt(d->week_starts[w], day, sizeof(day));
                fprintf(h->fp,
                        "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" "
                        "text-anchor=\"middle\">%.2s.%.2s</text>\n",
                        RP_ML + bw * ((double)w + 0.5), RP_H - RP_MB + 14,
                        day + 8, day + 5);
        }
}

static void rp_chart_weekly(const struct rp_html *h, const struct rp_data *d)
{
        double max = 0, bw, ph = RP_H - RP_MT - RP_MB;

        for (size_t w = 0; w < d->nweeks; w++)
                if (d->week_totals[w] > max)
                        max = (double)d->week_totals[w];
        max = rp_nice(max);
        bw = (double)(RP_W - RP_ML - RP_MR) /
             (double)(d->nweeks ? d->nweeks : 1);
        rp_svg_open(h, "chart-weekly", "Жалобы по неделям и категориям",
                    "Complaints per week by category");
        rp_axis(h, 0, max, 5, "");
        for (size_t w = 0; w < d->nweeks; w++) {
                double y = RP_MT + ph;
                char day[16];

                km_time_day_fmt(d->week_starts[w], day, sizeof(day));
                for (size_t c = 0; c < d->ncats; c++) {
                        long n = d->series[w * d->ncats + c];
                        double bh = ph * (double)n / max;

                        if (n == 0)
                                continue;
                        y -= bh;
                        fprintf(h->fp,
                                "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                                "width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                                "<title>%s ",
                                RP_ML + bw * (double)w + 1, y, bw - 2, bh,
                                rp_colors[c % 10], day);
                        rp_esc(h->fp, h->ru ? d->cats[c].ru : d->cats[c].en);
                        fprintf(h->fp, ": %ld</title></rect>\n", n);
                }
        }
        rp_xlabels(h, d, bw);
        fputs("</svg>\n<div class=\"legend\">", h->fp);
        for (size_t c = 0; c < d->ncats; c++) {
                fprintf(h->fp, "<span><i style=\"background:%s\"></i>",
                        rp_colors[c % 10]);
                rp_l(h, d->cats[c].ru, d->cats[c].en);
                fputs("</span> ", h->fp);
        }
        fputs("</div>\n", h->fp);
}

static void rp_chart_wow(const struct rp_html *h, const struct rp_data *d)
{
        double lim = 10, bw, ph = RP_H - RP_MT - RP_MB, y0;

        for (size_t w = 1; w < d->nweeks; w++)
                if (d->week_totals[w - 1] > 0) {
                        double x = fabs(100.0 *
                                        (double)(d->week_totals[w] -
                                                 d->week_totals[w - 1]) /
                                        (double)d->week_totals[w - 1]);

                        if (x > lim)
                                lim = x;
                }
        lim = rp_nice(lim);
        bw = (double)(RP_W - RP_ML - RP_MR) /
             (double)(d->nweeks ? d->nweeks : 1);
        y0 = RP_MT + ph / 2;
        rp_svg_open(h, "chart-wow", "Изменение к прошлой неделе, %",
                    "Week-over-week change, %");
        rp_axis(h, -lim, lim, 4, "%");
        fprintf(h->fp,
                "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#333\"/>\n",
                RP_ML, RP_W - RP_MR, y0, y0);
        for (size_t w = 1; w < d->nweeks; w++) {
                double x, bh;
                char day[16];

                if (d->week_totals[w - 1] == 0)
                        continue;
                x = 100.0 *
                    (double)(d->week_totals[w] - d->week_totals[w - 1]) /
                    (double)d->week_totals[w - 1];
                bh = fabs(x) / lim * ph / 2;
                km_time_day_fmt(d->week_starts[w], day, sizeof(day));
                fprintf(h->fp,
                        "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                        "height=\"%.1f\" fill=\"%s\"><title>%s: %+.1f%%</title>"
                        "</rect>\n",
                        RP_ML + bw * (double)w + 1, x >= 0 ? y0 - bh : y0,
                        bw - 2, bh, x >= 0 ? "#d62728" : "#2ca02c", day, x);
        }
        rp_xlabels(h, d, bw);
        fputs("</svg>\n", h->fp);
}

static void rp_num_td(const struct rp_html *h, double x, int places)
{
        if (isnan(x))
                fputs("<td>—</td>", h->fp);
        else
                fprintf(h->fp, "<td>%.*f</td>", places, x);
}

static void rp_rating_table(const struct rp_html *h, const struct rp_data *d)
{
        fputs("<table id=\"rating\"><thead><tr><th>#</th><th>", h->fp);
        rp_l(h, "КСК", "KSK");
        fputs("</th><th>", h->fp);
        rp_l(h, "Район", "District");
        fputs("</th><th>", h->fp);
        rp_l(h, "Жалоб", "Complaints");
        fputs("</th><th>", h->fp);
        rp_l(h, "На 100 кв.", "Per 100 apts");
        fputs("</th><th>", h->fp);
        rp_l(h, "Медиана решения, ч", "Median resolution, h");
        fputs("</th><th>", h->fp);
        rp_l(h, "Просрочено SLA, %", "SLA breached, %");
        fputs("</th><th>", h->fp);
        rp_l(h, "Повторы, %", "Repeats, %");
        fputs("</th><th>", h->fp);
        rp_l(h, "Оценка жителей", "Residents' vote");
        fputs("</th><th>", h->fp);
        rp_l(h, "Балл", "Score");
        fputs("</th></tr></thead><tbody>\n", h->fp);
        for (size_t i = 0; i < d->nrating; i++) {
                const struct rp_rate *k = &d->rating[i];

                if (!k->rated && i >= d->nrated + RP_UNRATED_ROWS) {
                        fprintf(h->fp, "<tr class=\"unrated\"><td>—</td>"
                                       "<td colspan=\"9\">");
                        rp_l(h, "и ещё без рейтинга:", "and more unrated:");
                        fprintf(h->fp, " %zu</td></tr>\n", d->nrating - i);
                        break;
                }
                fprintf(h->fp, "<tr class=\"%s\">",
                        k->rated ? "rated" : "unrated");
                if (k->rated)
                        fprintf(h->fp, "<td>%ld</td>", k->rank_city);
                else
                        fputs("<td>—</td>", h->fp);
                fputs("<td>", h->fp);
                rp_esc(h->fp, k->name);
                fputs(" <small>", h->fp);
                rp_esc(h->fp, k->id);
                fputs("</small></td><td>", h->fp);
                rp_esc(h->fp, k->district ? k->district : "—");
                fprintf(h->fp, "</td><td>%ld</td>", k->complaints);
                rp_num_td(h, k->per100, 2);
                rp_num_td(h, k->res_med, 1);
                rp_num_td(h, k->breach * 100, 0);
                rp_num_td(h, k->repeat * 100, 0);
                rp_num_td(h, k->avg_vote, 2);
                if (k->rated) {
                        fprintf(h->fp,
                                "<td><svg class=\"score\" width=\"120\" "
                                "height=\"12\"><rect width=\"%.0f\" "
                                "height=\"12\" fill=\"#1f77b4\"/></svg> %.1f</td>",
                                k->score * 1.2, k->score);
                } else {
                        fputs("<td>", h->fp);
                        rp_l(h, "без рейтинга", "unrated");
                        fputs(": ", h->fp);
                        rp_esc(h->fp, k->reason);
                        fputs("</td>", h->fp);
                }
                fputs("</tr>\n", h->fp);
        }
        fputs("</tbody></table>\n", h->fp);
}

static void rp_list(const struct rp_html *h, const struct rp_row *w, size_t n)
{
        fputs("<table class=\"list\"><tbody>\n", h->fp);
        for (size_t i = 0; i < n; i++) {
                fputs("<tr><td>", h->fp);
                if (w[i].ru && *w[i].ru)
                        rp_l(h, w[i].ru, w[i].en ? w[i].en : w[i].ru);
                else if (w[i].code && *w[i].code)
                        rp_esc(h->fp, w[i].code);
                else
                        rp_l(h, "не определён", "not matched");
                fprintf(h->fp, "</td><td>%ld</td>", w[i].n);
                rp_num_td(h, w[i].share, 1);
                if (isnan(w[i].wow))
                        fputs("<td>—</td>", h->fp);
                else
                        fprintf(h->fp, "<td>%+.0f%%</td>", w[i].wow);
                fputs("</tr>\n", h->fp);
        }
        fputs("</tbody></table>\n", h->fp);
}

void report_html(FILE *fp, const struct rp_data *d, const char *lang)
{
        struct rp_html h = {fp, strcmp(lang, "en") != 0,
                            strcmp(lang, "ru") != 0};
        char a[64], b[64];

        fprintf(fp,
                "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta "
                "charset=\"utf-8\"><title>komek %s</title>\n",
                h.ru ? "ru" : "en", d->iso_week);
        fputs("<style>body{font-family:sans-serif;margin:24px;color:#222}"
              "table{border-collapse:collapse;margin:8px 0}td,th{padding:3px "
              "8px;border-bottom:1px solid #eee;text-align:left}"
              ".legend span{margin-right:12px;font-size:12px}.legend i{display:"
              "inline-block;width:10px;height:10px;margin-right:4px}"
              "tr.unrated{color:#888}.big{font-size:22px}</style></head><body>\n",
              fp);
        fputs("<h1>", fp);
        rp_l(&h, "Сводка komek за неделю", "komek weekly summary, week");
        fprintf(fp, " %s</h1>\n<p>", d->iso_week);
        report_date(a, sizeof(a), d->ws, h.ru);
        report_date(b, sizeof(b), d->we, h.ru);
        fprintf(fp, "%s — %s</p>\n<p class=\"big\">", a, b);
        rp_l(&h, "С 1 января", "Since 1 January");
        fprintf(fp, ": <b id=\"ytd\">%ld</b>; ", d->ytd);
        rp_l(&h, "за неделю", "this week");
        fprintf(fp, ": <b id=\"week\">%ld</b> (", d->n);
        if (isnan(d->wow))
                fputs("—", fp);
        else
                fprintf(fp, "%+.0f%%", d->wow);
        fputs(")</p>\n<h2>", fp);
        rp_l(&h, "Жалобы по неделям", "Complaints per week");
        fputs("</h2>\n", fp);
        rp_chart_weekly(&h, d);
        fputs("<h2>", fp);
        rp_l(&h, "Изменение к прошлой неделе", "Week-over-week change");
        fputs("</h2>\n", fp);
        rp_chart_wow(&h, d);
        fputs("<h2>", fp);
        rp_l(&h, "Категории недели", "Categories this week");
        fputs("</h2>\n", fp);
        rp_list(&h, d->cats, d->ncats);
        fputs("<h2>", fp);
        rp_l(&h, "Районы", "Districts");
        fputs("</h2>\n", fp);
        rp_list(&h, d->districts, d->ndistricts);
        fputs("<h2>", fp);
        rp_l(&h, "Эскалации за неделю", "Escalations this week");
        fprintf(fp, "</h2>\n<p id=\"escalations\">SLA: %ld; ", d->esc[0]);
        rp_l(&h, "системные", "systemic");
        fprintf(fp, ": %ld; ", d->esc[1]);
        rp_l(&h, "неэффективные КСК", "inefficient KSKs");
        fprintf(fp, ": %ld</p>\n<h2>", d->esc[2]);
        rp_l(&h, "Рейтинг КСК", "KSK rating");
        fprintf(fp, " %s</h2>\n", d->rating_month);
        rp_rating_table(&h, d);
        fputs("</body></html>\n", fp);
}
