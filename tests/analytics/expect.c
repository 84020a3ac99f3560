/*
 * expect.c - see expect.h.  Deliberately plain loops over the model: an
 * independent account of the definitions in docs/analytics.md, not a copy
 * of the SQL.
 */
#include "expect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"
#include "km_util.h"

int64_t ex_days(int y, int m, int dd)
{
        return km_days_from_civil(y, (unsigned)m, (unsigned)dd);
}

int64_t ex_month_start(int64_t day)
{
        int y, m, dd;

        km_civil_from_days(day, &y, &m, &dd);
        return ex_days(y, m, 1);
}

static int ex_cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;

        return x < y ? -1 : x > y;
}

double ex_pct(double *v, size_t n, double f)
{
        double pos;
        size_t lo, hi;

        if (n == 0)
                return NAN;
        qsort(v, n, sizeof(*v), ex_cmp_double);
        pos = f * (double)(n - 1);
        lo = (size_t)floor(pos);
        hi = (size_t)ceil(pos);
        return v[lo] + (pos - (double)lo) * (v[hi] - v[lo]);
}

double ex_round(double x, int places)
{
        double k = pow(10, places);

        return x >= 0 ? floor(x * k + 0.5) / k : -floor(-x * k + 0.5) / k;
}

const struct fx_task *ex_current(const struct fx_cpl *c)
{
        return &c->t[c->ntask - 1];
}

int ex_breached(const struct fx_task *t, int64_t now)
{
        return t->rej == 0 && t->due < (t->res ? t->res : now);
}

static int64_t ex_ack(const struct fx_task *t)
{
        if (t->ack && t->res)
                return t->ack < t->res ? t->ack : t->res;
        return t->ack ? t->ack : t->res;
}

size_t ex_org_stats(const struct fx_data *d, int64_t now, struct ex_org **out)
{
        struct ex_org *o = km_xcalloc(d->no, sizeof(*o));
        double *ack = km_xcalloc(d->nc * 2 + 1, sizeof(double));
        double *res = km_xcalloc(d->nc * 2 + 1, sizeof(double));
        size_t n = 0;

        for (size_t k = 0; k < d->no; k++) {
                size_t na = 0, nr = 0, tasks = 0;
                struct ex_org *e = &o[n];

                snprintf(e->id, sizeof(e->id), "%s", d->o[k].id);
                e->apartments = d->o[k].apartments;
                for (size_t i = 0; i < d->nc; i++) {
                        const struct fx_cpl *c = &d->c[i];

                        for (int a = 0; a < c->ntask; a++) {
                                const struct fx_task *t = &c->t[a];

                                if (strcmp(t->org, e->id))
                                        continue;
                                tasks++;
                                if (t->rej) {
                                        e->rejected++;
                                        continue;
                                }
                                e->complaints++;
                                if (ex_ack(t))
                                        ack[na++] = (double)(ex_ack(t) -
                                                             c->received) /
                                                    3600.0;
                                if (t->res)
                                        res[nr++] =
                                                (double)(t->res - c->received) /
                                                3600.0;
                                e->breaches += ex_breached(t, now);
                                if (!t->res) {
                                        e->open++;
                                        e->overdue += t->due < now;
                                }
                        }
                }
                if (tasks == 0)
                        continue; /* no row in org_stats */
                e->ack_med = ex_pct(ack, na, 0.5);
                e->ack_p90 = ex_pct(ack, na, 0.9);
                e->res_med = ex_pct(res, nr, 0.5);
                e->res_p90 = ex_pct(res, nr, 0.9);
                n++;
        }
        free(ack);
        free(res);
        *out = o;
        return n;
}

/* percent_rank of x among v[0..n) ascending, NAN sorting last */
static double ex_prank(const double *v, size_t n, double x)
{
        size_t less = 0;

        if (n < 2)
                return 0;
        for (size_t i = 0; i < n; i++) {
                if (isnan(v[i]))
                        continue;
                if (isnan(x) || v[i] < x)
                        less++;
        }
        return (double)less / (double)(n - 1);
}

static int ex_repeat(const struct fx_data *d, const struct fx_cpl *c, int days)
{
        if (c->bld < 0)
                return 0;
        for (size_t i = 0; i < d->nc; i++) {
                const struct fx_cpl *r = &d->c[i];

                if (r->bld == c->bld && !strcmp(r->category, c->category) &&
                    r->received < c->received &&
                    r->received >= c->received - (int64_t)days * 86400)
                        return 1;
        }
        return 0;
}

static size_t ex_months(const struct fx_data *d, int64_t *months)
{
        size_t n = 0;

        for (size_t i = 0; i < d->nc + d->nv; i++) {
                int64_t m;
                size_t k;

                if (i < d->nc) {
                        m = ex_month_start(d->c[i].day);
                } else {
                        int y, mo;

                        sscanf(d->v[i - d->nc].month, "%d-%d", &y, &mo);
                        m = ex_days(y, mo, 1);
                }
                for (k = 0; k < n && months[k] != m; k++)
                        ;
                if (k == n)
                        months[n++] = m;
        }
        return n;
}

static void ex_rating_metrics(const struct fx_data *d, int64_t now,
                              const struct ex_rating_params *p,
                              struct ex_rating *r, double *buf)
{
        long breaches = 0, repeats = 0, nres = 0, vsum = 0;

        for (size_t i = 0; i < d->nc; i++) {
                const struct fx_cpl *c = &d->c[i];

                if (ex_month_start(c->day) != r->month)
                        continue;
                for (int a = 0; a < c->ntask; a++) {
                        const struct fx_task *t = &c->t[a];

                        if (strcmp(t->org, r->ksk) || t->rej)
                                continue;
                        r->complaints++;
                        breaches += ex_breached(t, now);
                        repeats += ex_repeat(d, c, p->repeat_days);
                        if (t->res)
                                buf[nres++] =
                                        (double)(t->res - c->received) / 3600.0;
                }
        }
        for (size_t i = 0; i < d->nv; i++) {
                const struct fx_vote *v = &d->v[i];
                int y, mo;

                sscanf(v->month, "%d-%d", &y, &mo);
                if (v->kept && !strcmp(v->ksk, r->ksk) &&
                    ex_days(y, mo, 1) == r->month) {
                        r->votes++;
                        vsum += v->score;
                }
        }
        r->per100 = r->apartments > 0 ? 100.0 * (double)r->complaints /
                                                (double)r->apartments
                                      : NAN;
        r->res_med = ex_pct(buf, (size_t)nres, 0.5);
        /* the fixture's residents dispute nothing (test_fixmystreet and
         * the view's own test cover disputes) */
        r->disputed_rate = nres ? 0.0 : NAN;
        r->breach_rate =
                r->complaints ? (double)breaches / (double)r->complaints : NAN;
        r->repeat_rate =
                r->complaints ? (double)repeats / (double)r->complaints : NAN;
        r->avg_vote = r->votes ? (double)vsum / (double)r->votes : NAN;
        r->reason = r->apartments == 0                  ? "no_apartments"
                    : r->complaints < p->min_complaints ? "few_complaints"
                    : r->votes < p->min_votes           ? "few_votes"
                                                        : NULL;
        r->rated = r->reason == NULL;
}

size_t ex_rating(const struct fx_data *d, int64_t now,
                 const struct ex_rating_params *p, struct ex_rating **out)
{
        int64_t *months = km_xcalloc(d->nc + d->nv + 1, sizeof(int64_t));
        size_t nm = ex_months(d, months), n = 0, nk = 0;
        struct ex_rating *r;
        double *buf = km_xcalloc(d->nc + 1, sizeof(double));
        double *col = km_xcalloc(d->no + 1, sizeof(double));

        for (size_t k = 0; k < d->no; k++)
                nk += strcmp(d->o[k].kind, "ksk") == 0;
        r = km_xcalloc(nm * nk + 1, sizeof(*r));
        for (size_t mi = 0; mi < nm; mi++) {
                size_t first = n;

                for (size_t k = 0; k < d->no; k++) {
                        if (strcmp(d->o[k].kind, "ksk"))
                                continue;
                        r[n].month = months[mi];
                        snprintf(r[n].ksk, sizeof(r[n].ksk), "%s", d->o[k].id);
                        r[n].apartments = d->o[k].apartments;
                        ex_rating_metrics(d, now, p, &r[n], buf);
                        n++;
                }
                /* scores of the rated, by position among the month's rated */
                for (int comp = 0; comp < 5; comp++) {
                        size_t nr = 0;

                        for (size_t i = first; i < n; i++) {
                                const struct ex_rating *x = &r[i];
                                double v = comp == 0   ? x->per100
                                           : comp == 1 ? x->res_med
                                           : comp == 2 ? x->breach_rate
                                           : comp == 3 ? x->repeat_rate
                                                       : x->disputed_rate;

                                if (x->rated)
                                        col[nr++] = v;
                        }
                        for (size_t i = first; i < n; i++) {
                                struct ex_rating *x = &r[i];
                                double v = comp == 0   ? x->per100
                                           : comp == 1 ? x->res_med
                                           : comp == 2 ? x->breach_rate
                                           : comp == 3 ? x->repeat_rate
                                                       : x->disputed_rate;

                                /* s[4] is the votes': disputes go to s[5] */
                                if (x->rated)
                                        x->s[comp == 4 ? 5 : comp] =
                                                100.0 *
                                                (1.0 - ex_prank(col, nr, v));
                        }
                }
                for (size_t i = first; i < n; i++) {
                        struct ex_rating *x = &r[i];
                        double sw = 0, sum = 0;

                        if (!x->rated)
                                continue;
                        x->s[4] = isnan(x->avg_vote)
                                          ? 50
                                          : 100.0 * (x->avg_vote - 1) / 4;
                        for (int c = 0; c < 6; c++) {
                                sum += p->w[c] * x->s[c];
                                sw += p->w[c];
                        }
                        x->score = sum / sw;
                }
        }
        free(months);
        free(buf);
        free(col);
        *out = r;
        return n;
}

static int ex_cmp_cpl(const void *a, const void *b)
{
        const struct fx_cpl *x = *(const struct fx_cpl *const *)a;
        const struct fx_cpl *y = *(const struct fx_cpl *const *)b;
        int c = x->bld - y->bld;

        if (c == 0)
                c = strcmp(x->category, y->category);
        if (c == 0)
                c = x->received < y->received ? -1 : x->received > y->received;
        if (c == 0)
                c = strcmp(x->id, y->id);
        return c;
}

static size_t ex_add(struct ex_esc **e, size_t n, int kind, const char *subject)
{
        *e = km_xrealloc(*e, (n + 1) * sizeof(**e));
        (*e)[n].kind = kind;
        snprintf((*e)[n].subject, sizeof((*e)[n].subject), "%s", subject);
        return n + 1;
}

static size_t ex_systemic(const struct fx_data *d,
                          const struct ex_esc_params *p, struct ex_esc **e,
                          size_t n)
{
        const struct fx_cpl **v = km_xcalloc(d->nc + 1, sizeof(*v));
        size_t nv = 0;
        int64_t w = (int64_t)p->window_hours * 3600;

        for (size_t i = 0; i < d->nc; i++)
                if (d->c[i].bld >= 0)
                        v[nv++] = &d->c[i];
        qsort(v, nv, sizeof(*v), ex_cmp_cpl);
        for (size_t i = 0; i < nv;) {
                size_t j = i;
                long prev = -1;

                while (j < nv && v[j]->bld == v[i]->bld &&
                       !strcmp(v[j]->category, v[i]->category))
                        j++;
                for (size_t k = i; k < j; k++) {
                        long cnt = 0;

                        for (size_t x = i; x < j; x++)
                                cnt += v[x]->received >= v[k]->received - w &&
                                       v[x]->received <= v[k]->received;
                        if (cnt >= p->systemic_count &&
                            (prev < 0 || prev < p->systemic_count)) {
                                char subject[200], ts[24];

                                km_fmt_rfc3339(v[k]->received, ts, sizeof(ts));
                                snprintf(subject, sizeof(subject), "%s|%s|%s",
                                         d->b[v[k]->bld].id, v[k]->category,
                                         ts);
                                n = ex_add(e, n, EX_SYSTEMIC, subject);
                        }
                        prev = cnt;
                }
                i = j;
        }
        free(v);
        return n;
}

/* Incidents: a KSK task it did not reject counts unless an earlier such
 * task of the same building + category came within window_hours before
 * it (ordered as ex_cmp_cpl: received, then id).  inc[i] is 1 for the
 * complaint i that is a counted incident of task a's KSK, with ta[i] = a. */
static void ex_incidents(const struct fx_data *d, int64_t w, char *inc, int *ta)
{
        const struct fx_cpl **v = km_xcalloc(d->nc + 1, sizeof(*v));
        size_t nv = 0;

        for (size_t i = 0; i < d->nc; i++) {
                ta[i] = -1;
                for (int a = 0; a < d->c[i].ntask; a++)
                        if (!strcmp(d->c[i].t[a].org_kind, "ksk") &&
                            !d->c[i].t[a].rej)
                                ta[i] = a;
                if (ta[i] >= 0)
                        v[nv++] = &d->c[i];
        }
        qsort(v, nv, sizeof(*v), ex_cmp_cpl);
        for (size_t j = 0; j < nv; j++) {
                size_t i = (size_t)(v[j] - d->c);

                inc[i] = !(j > 0 && v[j - 1]->bld == v[j]->bld &&
                           !strcmp(v[j - 1]->category, v[j]->category) &&
                           v[j - 1]->received >= v[j]->received - w);
        }
        free(v);
}

static size_t ex_inefficient(const struct fx_data *d, int64_t now,
                             const struct ex_esc_params *p, struct ex_esc **e,
                             size_t n)
{
        int64_t *months = km_xcalloc(d->nc + 1, sizeof(int64_t));
        double *rate = km_xcalloc(d->no + 1, sizeof(double));
        double *sorted = km_xcalloc(d->no + 1, sizeof(double));
        char *inc = km_xcalloc(d->nc + 1, 1);
        int *ta = km_xcalloc(d->nc + 1, sizeof(int));
        size_t nm = 0;
        int64_t today = fx_local_day(now, d->offset_hours);

        ex_incidents(d, (int64_t)p->window_hours * 3600, inc, ta);
        for (size_t i = 0; i < d->nc; i++) {
                int64_t m = ex_month_start(d->c[i].day);
                size_t k;

                for (k = 0; k < nm && months[k] != m; k++)
                        ;
                if (k == nm)
                        months[nm++] = m;
        }
        for (size_t mi = 0; mi < nm; mi++) {
                int y, mo, dd, fy, fm;
                size_t nk = 0;
                int64_t first;
                double med;

                km_civil_from_days(months[mi], &y, &mo, &dd);
                if (ex_days(mo == 12 ? y + 1 : y, mo == 12 ? 1 : mo + 1, 1) >
                    today)
                        continue; /* not complete */
                fy = y;
                fm = mo - (p->months - 1);
                while (fm < 1) {
                        fm += 12;
                        fy--;
                }
                first = ex_days(fy, fm, 1);
                for (size_t k = 0; k < d->no; k++) {
                        long cnt = 0;

                        rate[k] = NAN;
                        if (strcmp(d->o[k].kind, "ksk") ||
                            d->o[k].apartments < p->min_apartments ||
                            d->o[k].apartments <= 0)
                                continue;
                        for (size_t i = 0; i < d->nc; i++) {
                                int64_t m = ex_month_start(d->c[i].day);

                                cnt += inc[i] && ta[i] >= 0 &&
                                       !strcmp(d->c[i].t[ta[i]].org,
                                               d->o[k].id) &&
                                       m >= first && m <= months[mi];
                        }
                        rate[k] = 100.0 * (double)cnt /
                                  (double)d->o[k].apartments;
                        sorted[nk++] = rate[k];
                        if (cnt < p->min_complaints)
                                rate[k] = -rate[k] -
                                          1; /* in the median, never fires */
                }
                med = ex_pct(sorted, nk, 0.5);
                if (!(med > 0))
                        continue;
                for (size_t k = 0; k < d->no; k++)
                        if (!isnan(rate[k]) && rate[k] >= 0 &&
                            rate[k] > p->factor * med) {
                                char subject[200];

                                snprintf(subject, sizeof(subject),
                                         "%s|%04d-%02d", d->o[k].id, y, mo);
                                n = ex_add(e, n, EX_INEFFICIENT, subject);
                        }
        }
        free(months);
        free(rate);
        free(sorted);
        free(inc);
        free(ta);
        return n;
}

size_t ex_escalations(const struct fx_data *d, int64_t now,
                      const struct ex_esc_params *p, struct ex_esc **out)
{
        struct ex_esc *e = NULL;
        size_t n = 0;

        for (size_t i = 0; i < d->nc; i++) {
                const struct fx_task *t = ex_current(&d->c[i]);

                if (t->rej == 0 && t->due < now && (!t->res || t->res > t->due))
                        n = ex_add(&e, n, EX_SLA, d->c[i].id);
        }
        n = ex_systemic(d, p, &e, n);
        n = ex_inefficient(d, now, p, &e, n);
        *out = e;
        return n;
}
