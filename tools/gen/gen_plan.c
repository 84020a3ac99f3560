/*
 * gen_plan.c - komek-gen's plan of the complaints: when each record is
 * received, at which building, in which category and from which source;
 * the systemic cases and outages; which records are malformed and how;
 * where the resubmissions go. gen_rec.c renders the planned records,
 * gen_complaints.c writes them, gen_votes.c draws votes' times with
 * gen_plan_time: the tables they share (categories, sources, the local
 * hour of day) are here.
 *
 * Contract: every draw comes from the plan's own PRNG stream (struct
 * gen_plan's rng) in a fixed order, so the same seed and options give
 * the same plan.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "km_time.h"

#define NELEM(a) GEN_NELEM(a)

const char *const gen_cat_name[GEN_NCATS] = {
        "water_supply", "heating",      "electricity", "sanitation", "lift",
        "roof",         "common_areas", "gas",         "other"};

/* Category weights per month: heating leads Oct-Apr, water in summer. */
static const double gen_cat_month[12][GEN_NCATS] = {
        {14, 32, 13, 11, 10, 3, 9, 2, 5}, {14, 30, 13, 11, 10, 4, 9, 2, 5},
        {15, 24, 12, 12, 10, 9, 8, 2, 5}, {17, 15, 12, 13, 10, 10, 8, 2, 5},
        {24, 4, 13, 14, 10, 5, 8, 2, 5},  {34, 1, 13, 15, 10, 4, 7, 2, 5},
        {36, 1, 14, 15, 10, 5, 7, 2, 5},  {32, 2, 13, 15, 10, 6, 7, 2, 5},
        {21, 9, 12, 13, 10, 6, 8, 2, 5},  {15, 26, 12, 12, 10, 6, 8, 2, 5},
        {13, 31, 13, 11, 10, 4, 9, 2, 5}, {13, 33, 14, 11, 10, 3, 9, 2, 5}};
static const double gen_month_vol[12] = {1.10, 1.08, 1.02, 0.96, 0.92, 0.97,
                                         1.00, 0.97, 0.93, 1.04, 1.07, 1.10};
static const double gen_weekday[7] = {1.15, 1.06, 1.0, 1.0, 0.95, 0.85, 0.8};
const double gen_hour_local[24] = {1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5,
                                   4.5, 6.0, 6.5, 6.5, 6.0, 6.0, 6.0, 5.8,
                                   5.5, 5.2, 5.0, 4.5, 3.8, 3.0, 2.2, 1.5};

const struct gen_source gen_src[GEN_NSRC] = {
        {"call109", "phone", 0.80, 0.45},
        {"telegram-bot", "telegram", 0.07, 0.10},
        {"city-web", "web", 0.05, 0.50},
        {"mobile-app", "app", 0.05, 0.35},
        {"social", "social", 0.02, 0.0},
        {"email", "email", 0.01, 0.0}};

/* ---- planning: when, where, what --------------------------------------- */

static int gen_month_of(long day)
{
        int y, m, d;

        km_civil_from_days(day, &y, &m, &d);
        return m - 1;
}

int64_t gen_plan_time(struct gen_plan *p, long day)
{
        long local = (long)gen_rng_cdf(&p->rng, p->hour_cdf, 24);
        long utc = (local + 24 - GEN_UTC_OFFSET / 3600) % 24;

        return ((int64_t)p->conf->from_day + day) * 86400 + utc * 3600 +
               gen_rng_range(&p->rng, 0, 3599);
}

int gen_plan_cat(struct gen_plan *p, long day, int32_t bld)
{
        double w[GEN_NCATS];

        memcpy(w, gen_cat_month[gen_month_of(p->conf->from_day + day)],
               sizeof(w));
        if (bld < 0 || p->dir->b[bld].lift < 0)
                w[GEN_CAT_LIFT] = 0;
        return (int)gen_rng_weighted(&p->rng, w, GEN_NCATS);
}

struct gen_item *gen_plan_add(struct gen_plan *p, int64_t t, int32_t bld,
                              int cat, int flags)
{
        struct gen_item *it = &p->it[p->n];
        int64_t last = ((int64_t)p->conf->from_day + p->conf->days) * 86400;

        it->t = t < last ? t : last - 1;
        it->seq = (uint32_t)p->n++;
        it->bld = bld;
        it->cat = (uint8_t)cat;
        it->flags = (uint8_t)flags;
        it->src = (uint8_t)gen_rng_weighted(&p->rng, p->src_w, GEN_NSRC);
        return it;
}

void gen_plan_init(struct gen_plan *p)
{
        const struct gen_conf *c = p->conf;
        const struct gen_dir *dir = p->dir;
        double acc = 0, week = 1;

        p->day_cdf = gen_xmalloc((size_t)c->days * sizeof(double));
        for (long d = 0; d < c->days; d++) {
                long day = c->from_day + d;

                if (d % 7 == 0) /* week-to-week variation */
                        week = 0.88 + 0.24 * gen_rng_unit(&p->rng);
                acc += gen_month_vol[gen_month_of(day)] *
                       gen_weekday[(day + 3) % 7] * week;
                p->day_cdf[d] = acc;
        }
        acc = 0;
        p->bld_cdf = gen_xmalloc(dir->nb * sizeof(double));
        for (size_t i = 0; i < dir->nb; i++) {
                acc += dir->b[i].apartments * dir->b[i].weight *
                       dir->ksk[dir->b[i].ksk].factor;
                p->bld_cdf[i] = acc;
        }
        acc = 0;
        for (int h = 0; h < 24; h++)
                p->hour_cdf[h] = acc += gen_hour_local[h];
        for (size_t s = 0; s < GEN_NSRC; s++)
                p->src_w[s] = gen_src[s].share;
}

/* Systemic cases: one building, one category, 3..8 complaints in a few
 * days; outages: one district, many buildings, within 4 hours. */
void gen_plan_events(struct gen_plan *p, size_t budget, long *nb, long *no)
{
        const struct gen_dir *dir = p->dir;
        size_t half = p->n + budget / 2;

        for (long k; p->n + (size_t)(k = gen_rng_range(&p->rng, 3, 8)) <= half;
             (*nb)++) {
                int32_t b = (int32_t)gen_rng_cdf(&p->rng, p->bld_cdf, dir->nb);
                long day = (long)gen_rng_cdf(&p->rng, p->day_cdf,
                                             (size_t)p->conf->days);
                long span = gen_rng_range(&p->rng, 1, 3);
                int cat = gen_plan_cat(p, day, b);
                int64_t t[8];

                for (long j = 0; j < k; j++) { /* sorted: the first is first */
                        long d = day + gen_rng_range(&p->rng, 0, span), i;
                        int64_t x = gen_plan_time(p, j ? d : day);

                        for (i = j; i > 0 && t[i - 1] > x; i--)
                                t[i] = t[i - 1];
                        t[i] = x;
                }
                for (long j = 0; j < k; j++)
                        gen_plan_add(p, t[j], b, cat,
                                     GEN_IT_BURST | (j ? GEN_IT_REPEAT : 0));
        }
        half += budget - budget / 2;
        for (long k; p->n + (size_t)(k = gen_rng_range(&p->rng, 8, 25)) <= half;
             (*no)++) {
                double dw[GEN_NDISTRICTS];
                long day = (long)gen_rng_cdf(&p->rng, p->day_cdf,
                                             (size_t)p->conf->days);
                int m = gen_month_of(p->conf->from_day + day), d, cat;
                int64_t t0 = gen_plan_time(p, day);

                for (int i = 0; i < GEN_NDISTRICTS; i++)
                        dw[i] = (double)dir->dist_count[i];
                d = (int)gen_rng_weighted(&p->rng, dw, GEN_NDISTRICTS);
                cat = gen_rng_chance(&p->rng, 0.5) ? GEN_CAT_ELECTRICITY
                                                   : GEN_CAT_WATER;
                if ((m >= 9 || m <= 3) && gen_rng_chance(&p->rng, 0.4))
                        cat = GEN_CAT_HEATING;
                for (long j = 0; j < k; j++) {
                        /* one draw per statement: C leaves the order of
                         * argument evaluation open, gcc and clang differ */
                        int64_t t = t0 + gen_rng_range(&p->rng, 0, 14400);
                        size_t b = dir->dist_first[d] +
                                   gen_rng_below(&p->rng, dir->dist_count[d]);

                        gen_plan_add(p, t, (int32_t)b, cat, GEN_IT_OUTAGE);
                }
        }
}

/* Choose which background records are malformed, and how. */
void gen_plan_bad(struct gen_plan *p, size_t nbad)
{
        static const uint8_t json[] = {
                GEN_BAD_JSON, GEN_BAD_UTF8, GEN_BAD_CAT, GEN_BAD_NODESC,
                GEN_BAD_TYPE, GEN_BAD_LONG, GEN_BAD_TIME};
        static const uint8_t csv[] = {GEN_BAD_JSON, GEN_BAD_UTF8,
                                      GEN_BAD_CAT,  GEN_BAD_NODESC,
                                      GEN_BAD_LONG, GEN_BAD_TIME};
        bool is_csv = p->conf->format == GEN_FMT_CSV;
        size_t *cand = gen_xmalloc(p->n * sizeof(*cand)), nc = 0;

        for (size_t i = 0; i < p->n; i++)
                if (!p->it[i].flags)
                        cand[nc++] = i;
        for (size_t k = 0; k < nbad && k < nc; k++) {
                size_t j = k + gen_rng_below(&p->rng, nc - k), t = cand[j];

                cand[j] = cand[k];
                cand[k] = t;
                p->it[t].bad =
                        is_csv ? csv[k % NELEM(csv)] : json[k % NELEM(json)];
        }
        free(cand);
}

/* ---- the lines: where the resubmissions go ---------------------------- */

static int gen_line_cmp(const void *a, const void *b)
{
        const struct gen_line *x = a, *y = b;

        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return x->item < y->item ? -1 : x->item > y->item;
}

void gen_plan_lines(struct gen_plan *p, size_t ndup, struct gen_line *ln)
{
        size_t *cand = gen_xmalloc(p->n * sizeof(*cand)), nc = 0;

        for (size_t i = 0; i < p->n; i++) {
                ln[i] = (struct gen_line){(uint64_t)i * 64, (uint32_t)i, false};
                if (!p->it[i].bad)
                        cand[nc++] = i;
        }
        for (size_t k = 0; k < ndup && k < nc; k++) {
                size_t j = k + gen_rng_below(&p->rng, nc - k), t = cand[j];
                size_t at = t + (size_t)gen_rng_range(&p->rng, 1, 30);

                cand[j] = cand[k];
                cand[k] = t;
                ln[p->n + k] = (struct gen_line){
                        (uint64_t)(at < p->n ? at : p->n - 1) * 64 + 32,
                        (uint32_t)t, true};
        }
        qsort(ln, p->n + ndup, sizeof(*ln), gen_line_cmp);
        free(cand);
}
