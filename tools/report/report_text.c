/*
 * report_text.c - the weekly summary as text (Russian or English, in the
 * shape of the city's bulletin), JSON (language neutral, names in both)
 * and CSV (one table: section, key, names, figures).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_csv.h"
#include "km_utf8.h"
#include "km_time.h"
#include "km_util.h"
#include "report.h"

static const char *const rp_months_ru[12] = {
        "января", "февраля", "марта",    "апреля",  "мая",    "июня",
        "июля",   "августа", "сентября", "октября", "ноября", "декабря"};
static const char *const rp_months_ru_nom[12] = {
        "январь", "февраль", "март",     "апрель",  "май",    "июнь",
        "июль",   "август",  "сентябрь", "октябрь", "ноябрь", "декабрь"};
static const char *const rp_months_en[12] = {
        "January", "February", "March",     "April",   "May",      "June",
        "July",    "August",   "September", "October", "November", "December"};

const char *report_lang_pick(int ru, const char *r, const char *e)
{
        return ru ? r : e;
}

/* 15560 -> "15 560" (ru) or "15,560" (en). */
void report_num(char *buf, size_t len, long n, int ru)
{
        char digits[32], out[48];
        size_t nd, o = 0;
        int neg = n < 0;

        snprintf(digits, sizeof(digits), "%ld", neg ? -n : n);
        nd = strlen(digits);
        if (neg)
                out[o++] = '-';
        for (size_t i = 0; i < nd; i++) {
                if (i > 0 && (nd - i) % 3 == 0)
                        out[o++] = ru ? ' ' : ',';
                out[o++] = digits[i];
        }
        out[o] = '\0';
        snprintf(buf, len, "%s", out);
}

void report_dec(char *buf, size_t len, double x, int places, int ru)
{
        char *p;

        if (isnan(x)) {
                snprintf(buf, len, "—");
                return;
        }
        snprintf(buf, len, "%.*f", places, x);
        if (ru && (p = strchr(buf, '.')) != NULL)
                *p = ',';
}

/* A signed whole percentage: "+2%", "-3%", "—" when undefined. */
void report_pct(char *buf, size_t len, double x, int ru)
{
        (void)ru;
        if (isnan(x))
                snprintf(buf, len, "—");
        else
                snprintf(buf, len, "%+.0f%%", x);
}

void report_date(char *buf, size_t len, int64_t day, int ru)
{
        char iso[16];
        int y, m, d;

        km_time_day_fmt(day, iso, sizeof(iso));
        sscanf(iso, "%d-%d-%d", &y, &m, &d);
        if (ru)
                snprintf(buf, len, "%d %s %d", d, rp_months_ru[m - 1], y);
        else
                snprintf(buf, len, "%d %s %d", d, rp_months_en[m - 1], y);
}

/* обращение / обращения / обращений */
static const char *rp_plural_ru(long n, const char *one, const char *few,
                                const char *many)
{
        long a = n % 100, b = n % 10;

        if (a >= 11 && a <= 14)
                return many;
        return b == 1 ? one : (b >= 2 && b <= 4) ? few : many;
}

static const char *rp_kind_name(int k, int ru)
{
        static const char *const r[3] = {"просрочка SLA", "системные случаи",
                                         "неэффективные КСК"};
        static const char *const e[3] = {"SLA breaches", "systemic cases",
                                         "inefficient KSKs"};

        return ru ? r[k] : e[k];
}

static void rp_change(FILE *fp, const struct rp_data *d, int ru)
{
        char prev[32];
        double x = d->wow;

        report_num(prev, sizeof(prev), d->prev, ru);
        if (isnan(x))
                fprintf(fp, ru ? "неделей ранее обращений не было"
                               : "none the week before");
        else if (fabs(x) < 0.5)
                fprintf(fp,
                        ru ? "столько же, сколько неделей ранее (%s)"
                           : "the same as the week before (%s)",
                        prev);
        else
                fprintf(fp,
                        ru ? "на %.0f%% %s, чем неделей ранее (%s)"
                           : "%.0f%% %s than the week before (%s)",
                        fabs(x),
                        x > 0 ? (ru ? "больше" : "more")
                              : (ru ? "меньше" : "fewer"),
                        prev);
}

static void rp_rows_text(FILE *fp, const struct rp_row *w, size_t n, size_t top,
                         int ru, int named)
{
        if (n == 0 || w[0].n == 0)
                fprintf(fp, "  —\n");
        for (size_t i = 0; i < n && i < top && w[i].n > 0; i++) {
                char num[32], share[32], wow[32];
                const char *name = named ? (ru ? w[i].ru : w[i].en) : w[i].code;

                if (name == NULL || *name == '\0')
                        name = ru ? "не определён" : "not matched";
                report_num(num, sizeof(num), w[i].n, ru);
                report_dec(share, sizeof(share), w[i].share, 1, ru);
                report_pct(wow, sizeof(wow), w[i].wow, ru);
                fprintf(fp, "  %s", name);
                for (size_t c = km_utf8_chars(name); c < 28; c++)
                        fputc(' ', fp);
                fprintf(fp, " %7s  %5s%%  %6s\n", num, share, wow);
        }
}

void report_text(FILE *fp, const struct rp_data *d, int ru)
{
        char a[64], b[64], num[32];
        size_t top = 5;
        long esc = d->esc[0] + d->esc[1] + d->esc[2];

        report_date(a, sizeof(a), d->ws, ru);
        report_date(b, sizeof(b), d->we, ru);
        fprintf(fp,
                ru ? "Сводка komek за неделю %s (%s — %s)\n\n"
                   : "komek weekly summary, week %s (%s to %s)\n\n",
                d->iso_week, a, b);
        report_num(num, sizeof(num), d->ytd, ru);
        if (ru)
                fprintf(fp, "С 1 января %d года: %s %s.\n", d->year, num,
                        rp_plural_ru(d->ytd, "обращение", "обращения",
                                     "обращений"));
        else
                fprintf(fp, "Since 1 January %d: %s complaint%s.\n", d->year,
                        num, d->ytd == 1 ? "" : "s");
        report_num(num, sizeof(num), d->n, ru);
        if (ru)
                fprintf(fp, "За неделю: %s %s, ", num,
                        rp_plural_ru(d->n, "обращение", "обращения",
                                     "обращений"));
        else
                fprintf(fp, "This week: %s complaint%s, ", num,
                        d->n == 1 ? "" : "s");
        rp_change(fp, d, ru);
        fprintf(fp, ".\n\n%s\n",
                ru ? "Чаще всего (число, доля, к прошлой неделе):"
                   : "Top categories (count, share, vs last week):");
        rp_rows_text(fp, d->cats, d->ncats, top, ru, 1);
        fprintf(fp, "\n%s\n", ru ? "По районам:" : "By district:");
        rp_rows_text(fp, d->districts, d->ndistricts, 10, ru, 1);
        fprintf(fp, "\n%s", ru ? "Каналы:" : "Channels:");
        for (size_t i = 0; i < d->nchannels; i++) {
                char share[32];

                report_dec(share, sizeof(share), d->channels[i].share, 1, ru);
                fprintf(fp, "%s %s %s%%", i ? "," : "", d->channels[i].code,
                        share);
        }
        if (d->nchannels == 0)
                fprintf(fp, " —");
        fprintf(fp, "\n\n%s\n",
                ru ? "Худшие КСК недели (жалоб на 100 квартир):"
                   : "Worst KSKs of the week (complaints per "
                     "100 apartments):");
        if (d->nworst == 0)
                fprintf(fp, "  %s\n", ru ? "нет" : "none");
        for (size_t i = 0; i < d->nworst; i++) {
                const struct rp_ksk *k = &d->worst[i];
                char per[32];

                report_dec(per, sizeof(per), k->per100, 2, ru);
                fprintf(fp, "  %s (%s, %s): %s; %ld %s, %s %ld\n", k->name,
                        k->id, k->district ? k->district : "—", per, k->n,
                        ru ? rp_plural_ru(k->n, "жалоба", "жалобы", "жалоб")
                           : (k->n == 1 ? "complaint" : "complaints"),
                        ru ? "просрочено" : "SLA breached", k->breaches);
        }
        fprintf(fp, "\n%s %ld",
                ru ? "Эскалации за неделю:" : "Escalations this week:", esc);
        fprintf(fp, " (%s %ld, %s %ld, %s %ld).\n", rp_kind_name(0, ru),
                d->esc[0], rp_kind_name(1, ru), d->esc[1], rp_kind_name(2, ru),
                d->esc[2]);
        {
                int y, m;

                sscanf(d->rating_month, "%d-%d", &y, &m);
                fprintf(fp,
                        ru ? "\nРейтинг КСК за %s %d: оценено %zu, без рейтинга %zu.\n"
                           : "\nKSK rating for %s %d: %zu rated, %zu unrated.\n",
                        ru ? rp_months_ru_nom[m - 1] : rp_months_en[m - 1], y,
                        d->nrated, d->nrating - d->nrated);
        }
        for (size_t i = 0; i < d->nrated && i < 3; i++) {
                char sc[32];

                report_dec(sc, sizeof(sc), d->rating[i].score, 1, ru);
                fprintf(fp, "  %ld. %s (%s): %s\n", d->rating[i].rank_city,
                        d->rating[i].name, d->rating[i].id, sc);
        }
        if (d->nrated > 3) {
                const struct rp_rate *k = &d->rating[d->nrated - 1];
                char sc[32];

                report_dec(sc, sizeof(sc), k->score, 1, ru);
                fprintf(fp, "  ...\n  %ld. %s (%s): %s\n", k->rank_city,
                        k->name, k->id, sc);
        }
}

static json_t *rp_jnum(double x, int places)
{
        double k = pow(10, places);

        return isnan(x) ? json_null() : json_real(round(x * k) / k);
}

static json_t *rp_jrows(const struct rp_row *w, size_t n)
{
        json_t *a = json_array();

        for (size_t i = 0; i < n; i++)
                json_array_append_new(
                        a, json_pack("{s:s?,s:s?,s:s?,s:I,s:I,s:I,s:o,s:o}",
                                     "code", w[i].code, "name_ru", w[i].ru,
                                     "name_en", w[i].en, "count",
                                     (json_int_t)w[i].n, "previous",
                                     (json_int_t)w[i].prev, "since_january",
                                     (json_int_t)w[i].ytd, "wow_pct",
                                     rp_jnum(w[i].wow, 1), "share_pct",
                                     rp_jnum(w[i].share, 1)));
        return a;
}

void report_json(FILE *fp, const struct rp_data *d)
{
        char ws[16], we[16];
        json_t *root, *worst = json_array(), *rating = json_array();
        json_t *series = json_array();
        char *text;

        km_time_day_fmt(d->ws, ws, sizeof(ws));
        km_time_day_fmt(d->we, we, sizeof(we));
        for (size_t i = 0; i < d->nworst; i++)
                json_array_append_new(
                        worst,
                        json_pack(
                                "{s:s,s:s,s:s?,s:I,s:I,s:o,s:I}", "ksk_id",
                                d->worst[i].id, "name", d->worst[i].name,
                                "district", d->worst[i].district, "apartments",
                                (json_int_t)d->worst[i].apartments,
                                "complaints", (json_int_t)d->worst[i].n,
                                "per_100_apartments",
                                rp_jnum(d->worst[i].per100, 2), "sla_breaches",
                                (json_int_t)d->worst[i].breaches));
        for (size_t i = 0; i < d->nrating; i++) {
                const struct rp_rate *k = &d->rating[i];

                json_array_append_new(
                        rating,
                        json_pack(
                                "{s:s,s:s,s:s?,s:b,s:s?,s:o,s:o,s:I,s:o,s:o,s:o,"
                                "s:o,s:I,s:o,s:o}",
                                "ksk_id", k->id, "name", k->name, "district",
                                k->district, "rated", k->rated,
                                "unrated_reason", k->reason, "rank_city",
                                k->rated ? json_integer(k->rank_city)
                                         : json_null(),
                                "rank_district",
                                k->rated ? json_integer(k->rank_district)
                                         : json_null(),
                                "complaints", (json_int_t)k->complaints,
                                "per_100_apartments", rp_jnum(k->per100, 2),
                                "resolve_median_h", rp_jnum(k->res_med, 2),
                                "sla_breach_rate", rp_jnum(k->breach, 4),
                                "repeat_rate", rp_jnum(k->repeat, 4), "votes",
                                (json_int_t)k->votes, "avg_vote",
                                rp_jnum(k->avg_vote, 2), "score",
                                rp_jnum(k->score, 1)));
        }
        for (size_t w = 0; w < d->nweeks; w++) {
                char day[16];
                json_t *by = json_object();

                km_time_day_fmt(d->week_starts[w], day, sizeof(day));
                for (size_t c = 0; c < d->ncats; c++)
                        json_object_set_new(
                                by, d->cats[c].code,
                                json_integer(d->series[w * d->ncats + c]));
                json_array_append_new(series,
                                      json_pack("{s:s,s:I,s:o}", "week_start",
                                                day, "total",
                                                (json_int_t)d->week_totals[w],
                                                "by_category", by));
        }
        root = json_pack(
                "{s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:{s:I,s:I,s:I},"
                "s:s,s:o,s:o}",
                "week", d->iso_week, "week_start", ws, "week_end", we, "year",
                d->year, "since_january", (json_int_t)d->ytd, "count",
                (json_int_t)d->n, "previous", (json_int_t)d->prev, "wow_pct",
                rp_jnum(d->wow, 1), "categories", rp_jrows(d->cats, d->ncats),
                "districts", rp_jrows(d->districts, d->ndistricts), "channels",
                rp_jrows(d->channels, d->nchannels), "worst_ksks", worst,
                "escalations", "sla_breach", (json_int_t)d->esc[0], "systemic",
                (json_int_t)d->esc[1], "inefficient_ksk", (json_int_t)d->esc[2],
                "rating_month", d->rating_month, "rating", rating, "weekly",
                series);
        text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                        JSON_REAL_PRECISION(10));
        fprintf(fp, "%s\n", text);
        free(text);
        json_decref(root);
}

/* A CSV field (common/km_csv.c): quoted when it holds a comma, quote or
 * newline; a cell a spreadsheet would run as a formula is defused. */
static void rp_csv_field(FILE *fp, const char *s, int last)
{
        char buf[512], *big = NULL;
        size_t n = km_csv_cell(s, buf, sizeof(buf));

        if (n >= sizeof(buf)) {
                big = km_xmalloc(n + 1);
                km_csv_cell(s, big, n + 1);
        }
        fputs(big ? big : buf, fp);
        free(big);
        fputc(last ? '\n' : ',', fp);
}

static void rp_csv_row(FILE *fp, const char *section, const char *key,
                       const char *ru, const char *en, long n, long prev,
                       double wow, double value, const char *note)
{
        char a[32], b[32], c[32], v[32];

        snprintf(a, sizeof(a), "%ld", n);
        snprintf(b, sizeof(b), "%ld", prev);
        report_dec(c, sizeof(c), wow, 1, 0);
        report_dec(v, sizeof(v), value, 2, 0);
        rp_csv_field(fp, section, 0);
        rp_csv_field(fp, key, 0);
        rp_csv_field(fp, ru, 0);
        rp_csv_field(fp, en, 0);
        rp_csv_field(fp, a, 0);
        rp_csv_field(fp, b, 0);
        rp_csv_field(fp, strcmp(c, "—") ? c : "", 0);
        rp_csv_field(fp, strcmp(v, "—") ? v : "", 0);
        rp_csv_field(fp, note, 1);
}

void report_csv(FILE *fp, const struct rp_data *d)
{
        fprintf(fp, "section,key,name_ru,name_en,count,previous,wow_pct,value,"
                    "note\n");
        rp_csv_row(fp, "week", d->iso_week, NULL, NULL, d->n, d->prev, d->wow,
                   NAN, "count, previous week, change %");
        rp_csv_row(fp, "since_january", d->iso_week, NULL, NULL, d->ytd, 0, NAN,
                   NAN, NULL);
        for (size_t i = 0; i < d->ncats; i++)
                rp_csv_row(fp, "category", d->cats[i].code, d->cats[i].ru,
                           d->cats[i].en, d->cats[i].n, d->cats[i].prev,
                           d->cats[i].wow, (double)d->cats[i].ytd,
                           "value: since 1 January");
        for (size_t i = 0; i < d->ndistricts; i++)
                rp_csv_row(fp, "district", d->districts[i].code,
                           d->districts[i].ru, d->districts[i].en,
                           d->districts[i].n, d->districts[i].prev,
                           d->districts[i].wow, d->districts[i].share,
                           "value: share %");
        for (size_t i = 0; i < d->nchannels; i++)
                rp_csv_row(fp, "channel", d->channels[i].code, NULL, NULL,
                           d->channels[i].n, d->channels[i].prev,
                           d->channels[i].wow, d->channels[i].share,
                           "value: share %");
        for (size_t i = 0; i < d->nworst; i++)
                rp_csv_row(fp, "worst_ksk", d->worst[i].id, d->worst[i].name,
                           d->worst[i].name, d->worst[i].n,
                           d->worst[i].breaches, NAN, d->worst[i].per100,
                           "previous: SLA breaches; value: per 100 apartments");
        for (int k = 0; k < 3; k++)
                rp_csv_row(fp, "escalations",
                           k == 0   ? "sla_breach"
                           : k == 1 ? "systemic"
                                    : "inefficient_ksk",
                           rp_kind_name(k, 1), rp_kind_name(k, 0), d->esc[k], 0,
                           NAN, NAN, NULL);
        for (size_t i = 0; i < d->nrating; i++)
                rp_csv_row(fp, d->rating[i].rated ? "rating" : "unrated",
                           d->rating[i].id, d->rating[i].name,
                           d->rating[i].name, d->rating[i].complaints,
                           d->rating[i].rated ? d->rating[i].rank_city : 0, NAN,
                           d->rating[i].score,
                           d->rating[i].reason ? d->rating[i].reason
                                               : d->rating_month);
}
