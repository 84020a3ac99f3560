/*
 * gen_complaints.c - komek-gen's complaints (complaints.jsonl or .csv, with
 * truth.csv) and residents' KSK votes (votes.jsonl), which draw their
 * times from the same plan.
 *
 * Contract: --complaints lines in time order, of which round(N*dup-rate)
 * are exact resubmissions placed 1..30 lines after their original and
 * round(N*bad-rate) are malformed on purpose, one defect each. truth.csv
 * has one row per line (CSV: per record) with the expected outcome. Each
 * record is rendered from its own PRNG stream (seed, creation index), so
 * a resubmission re-renders byte-identical and every record is
 * independent of the others' draw counts.
 */
#include "gen.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"
#include "km_util.h"

#define NELEM(a) GEN_NELEM(a)
#define GEN_IT_REPEAT 1 /* a systemic case, not its first complaint */
#define GEN_IT_BURST 2
#define GEN_IT_OUTAGE 4

enum gen_bad {
        GEN_OK,
        GEN_BAD_JSON,
        GEN_BAD_UTF8,
        GEN_BAD_CAT,
        GEN_BAD_NODESC,
        GEN_BAD_TYPE,
        GEN_BAD_LONG,
        GEN_BAD_TIME,
        GEN_NBAD
};

static const char *const gen_reason[GEN_NBAD] = {"",
                                                 "invalid_json",
                                                 "invalid_utf8",
                                                 "unknown_category",
                                                 "missing_field:description",
                                                 "wrong_type:category",
                                                 "too_long:description",
                                                 "invalid_field:received_at"};

static const char *const gen_cat_name[GEN_NCATS] = {
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
static const double gen_hour_local[24] = {
        1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4.5, 6.0, 6.5, 6.5,
        6.0, 6.0, 6.0, 5.8, 5.5, 5.2, 5.0, 4.5, 3.8, 3.0, 2.2, 1.5};
static const double gen_sos[GEN_NCATS] = {0.02,  0.01,  0.02, 0.005, 0.03,
                                          0.005, 0.003, 0.5,  0.002};

static const struct {
        const char *source, *channel;
        double share, with_bid;
} gen_src[] = {{"call109", "phone", 0.80, 0.45},
               {"telegram-bot", "telegram", 0.07, 0.10},
               {"city-web", "web", 0.05, 0.50},
               {"mobile-app", "app", 0.05, 0.35},
               {"social", "social", 0.02, 0.0},
               {"email", "email", 0.01, 0.0}};
#define GEN_NSRC NELEM(gen_src)

struct gen_item {
        int64_t t;    /* received_at, epoch seconds UTC */
        uint32_t seq; /* creation index: PRNG stream, tie-break */
        uint32_t no;  /* serial within its source */
        int32_t bld;  /* building index, -1: no such address */
        uint8_t cat, src, bad, flags;
};

struct gen_plan {
        const struct gen_dir *dir;
        const struct gen_conf *conf;
        struct gen_rng rng;
        struct gen_item *it;
        size_t n, cap;
        double *day_cdf, *bld_cdf, hour_cdf[24], src_w[GEN_NSRC];
};

/* ---- planning: when, where, what --------------------------------------- */

static int gen_month_of(long day)
{
        int y, m, d;

        km_civil_from_days(day, &y, &m, &d);
        return m - 1;
}

static int64_t gen_plan_time(struct gen_plan *p, long day)
{
        long local = (long)gen_rng_cdf(&p->rng, p->hour_cdf, 24);
        long utc = (local + 24 - GEN_UTC_OFFSET / 3600) % 24;

        return ((int64_t)p->conf->from_day + day) * 86400 + utc * 3600 +
               gen_rng_range(&p->rng, 0, 3599);
}

static int gen_plan_cat(struct gen_plan *p, long day, int32_t bld)
{
        double w[GEN_NCATS];

        memcpy(w, gen_cat_month[gen_month_of(p->conf->from_day + day)],
               sizeof(w));
        if (bld < 0 || p->dir->b[bld].lift < 0)
                w[GEN_CAT_LIFT] = 0;
        return (int)gen_rng_weighted(&p->rng, w, GEN_NCATS);
}

static struct gen_item *gen_plan_add(struct gen_plan *p, int64_t t, int32_t bld,
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

static void gen_plan_init(struct gen_plan *p)
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
static void gen_plan_events(struct gen_plan *p, size_t budget, long *nb,
                            long *no)
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

static int gen_item_cmp(const void *a, const void *b)
{
        const struct gen_item *x = a, *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Choose which background records are malformed, and how. */
static void gen_plan_bad(struct gen_plan *p, size_t nbad)
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

/* ---- rendering one record ---------------------------------------------- */

struct gen_rec {
        char ext[48], when[32], bid[16], phone[32];
        const char *cat;
        struct gen_sb desc, raw, dist, street, house, apt, text, name;
        bool structured, has_bid, has_ll, contact, sos, kazakh;
        int32_t lat, lon;
        /* truth.csv's district, 1-based (0: none): the building's, or for
         * an unknown building the one its structured address names */
        int district1;
};

static void gen_rec_free(struct gen_rec *r)
{
        struct gen_sb *sbs[] = {&r->desc,  &r->raw, &r->dist, &r->street,
                                &r->house, &r->apt, &r->text, &r->name};

        for (size_t i = 0; i < NELEM(sbs); i++)
                gen_sb_free(sbs[i]);
}

static void gen_rec_ext(struct gen_rec *r, const struct gen_item *it,
                        uint64_t seed)
{
        int y, m, d;

        km_civil_from_days(it->t / 86400, &y, &m, &d);
        switch (it->src) {
        case 0:
                snprintf(r->ext, sizeof(r->ext), "109-%d-%06u", y, it->no);
                break;
        case 1:
                snprintf(r->ext, sizeof(r->ext), "tg-%08u", 5210000 + it->no);
                break;
        case 2:
                snprintf(r->ext, sizeof(r->ext), "WEB-%d-%05u", y, it->no);
                break;
        case 3:
                snprintf(r->ext, sizeof(r->ext), "%016llx",
                         (unsigned long long)gen_mix64(seed ^ it->no));
                break;
        case 4:
                snprintf(r->ext, sizeof(r->ext), "soc-%06u", it->no);
                break;
        default:
                snprintf(r->ext, sizeof(r->ext), "mail-%d-%05u", y, it->no);
        }
}

/* The address: canonical with building_id, or spelled by a resident. */
static void gen_rec_address(struct gen_rec *r, const struct gen_dir *dir,
                            const struct gen_item *it, bool kazakh,
                            struct gen_rng *rng)
{
        const struct gen_building *b = it->bld >= 0 ? &dir->b[it->bld] : NULL;
        const struct gen_street *st;
        const char *canon = NULL, *kz;
        enum gen_style style = GEN_STYLE_CYR;
        char house[24];
        int apt = 0, district;
        double u = gen_rng_unit(rng);

        if (b) {
                st = &dir->streets[b->street];
                snprintf(house, sizeof(house), "%s", b->house);
                district = b->district;
                r->district1 = district + 1;
                if (gen_rng_chance(rng, 0.8))
                        apt = (int)gen_rng_range(rng, 1, b->apartments);
        } else { /* a street we do not know, or a number beyond its end */
                size_t s = gen_rng_below(rng, dir->nstreets);

                st = &dir->streets[s];
                district = st->district;
                canon = gen_rng_chance(rng, 0.5) ? gen_text_fake_street(rng)
                                                 : st->name;
                snprintf(house, sizeof(house), "%ld",
                         canon != st->name
                                 ? gen_rng_range(rng, 1, 60)
                                 : dir->streets[st->counter].next_no + 30 +
                                           gen_rng_range(rng, 0, 300));
                if (gen_rng_chance(rng, 0.7))
                        apt = (int)gen_rng_range(rng, 1, 120);
        }
        if (b && gen_rng_chance(rng, gen_src[it->src].with_bid)) {
                r->structured = r->has_bid = r->has_ll = true;
                snprintf(r->bid, sizeof(r->bid), "b-%06d", it->bld + 1);
                r->lat = b->lat;
                r->lon = b->lon;
                gen_sb_puts(&r->dist, gen_addr_district_name(district));
                gen_sb_puts(&r->street, st->name);
                gen_sb_puts(&r->house, house);
                if (apt)
                        gen_sb_printf(&r->apt, "%d", apt);
                return;
        }
        if (u < (kazakh ? 0.35 : 0.06))
                style = GEN_STYLE_KAZ;
        else if (u > 0.92)
                style = GEN_STYLE_LATIN;
        if (b)
                canon = st->name;
        kz = canon == st->name ? st->kz : NULL;

        if (b && it->src == 3 && gen_rng_chance(rng, 0.5)) {
                r->has_ll = true; /* the app's GPS fix, near the door */
                r->lat = b->lat + (int32_t)gen_rng_range(rng, -300, 300);
                r->lon = b->lon + (int32_t)gen_rng_range(rng, -400, 400);
        }
        if (gen_rng_chance(rng, 0.6)) {
                r->structured = true;
                if (gen_rng_chance(rng, 0.6)) {
                        gen_addr_district(&r->dist, rng, district, style);
                        if (b == NULL)
                                r->district1 = district + 1;
                }
                gen_addr_street(&r->street, rng, canon, kz, style);
                gen_text_noise(&r->street, rng);
                gen_addr_house(&r->house, rng, house, style,
                               gen_rng_chance(rng, 0.3));
                if (apt)
                        gen_addr_apartment(&r->apt, rng, apt, style,
                                           gen_rng_chance(rng, 0.35));
                return;
        }
        gen_addr_city(&r->text, rng, style);
        if (gen_rng_chance(rng, 0.25)) { /* marked: "р-н Есиль", not "Есиль" */
                gen_addr_district(&r->text, rng, district,
                                  style == GEN_STYLE_CYR ? GEN_STYLE_MARKED
                                                         : style);
                gen_sb_puts(&r->text, ", ");
        }
        gen_addr_street(&r->text, rng, canon, kz, style);
        gen_sb_puts(&r->text, gen_rng_chance(rng, 0.6) ? ", " : " ");
        u = gen_rng_unit(rng);
        gen_addr_house(&r->text, rng, house, style, u < 0.4);
        if (apt && u >= 0.85 && strspn(house, "0123456789") == strlen(house)) {
                gen_sb_printf(&r->text, "-%d", apt);
        } else if (apt) {
                gen_sb_puts(&r->text, gen_rng_chance(rng, 0.8) ? ", " : " ");
                gen_addr_apartment(&r->text, rng, apt, style, u < 0.95);
        }
        gen_text_noise(&r->text, rng);
}

static void gen_rec_fill(struct gen_rec *r, const struct gen_dir *dir,
                         const struct gen_conf *conf, const struct gen_item *it,
                         struct gen_rng *rng)
{
        static const char *const bad_cat[] = {"noise", "parking", "pets",
                                              "graffiti"};
        static const char *const bad_time[] = {
                "вчера вечером", "2026-13-45T25:61:00Z", "04.03.2026 08:15",
                "not a date",    "2026/03/04 08:15:00",  "yesterday"};
        const struct gen_building *b = it->bld >= 0 ? &dir->b[it->bld] : NULL;
        struct gen_desc d = {.cat = it->cat,
                             .kazakh = gen_rng_chance(rng, 0.15),
                             .repeat = it->flags & GEN_IT_REPEAT,
                             .operator= it->src == 0,
                             .digital = it->src != 0,
                             .floors = b ? b->floors : 5,
                             .entrances = b ? b->entrances : 4,
                             .ksk_name = b ? dir->ksk[b->ksk].name : NULL};

        gen_rec_ext(r, it, conf->seed);
        km_fmt_rfc3339(it->t, r->when, sizeof(r->when));
        r->cat = gen_cat_name[it->cat];
        r->sos = d.emergency = gen_rng_chance(rng, gen_sos[it->cat]);
        r->kazakh = d.kazakh;
        gen_text_description(&r->desc, rng, &d);
        gen_rec_address(r, dir, it, d.kazakh, rng);
        if ((r->contact = gen_rng_chance(rng, 0.7))) {
                uint64_t h;

                gen_text_person(&r->name, rng);
                h = gen_rng_next(rng);
                gen_text_mobile(r->phone, sizeof(r->phone), h,
                                gen_rng_chance(rng, 0.2));
        }
        switch (it->bad) {
        case GEN_BAD_UTF8: /* a legacy integration sending Windows-1251 */
                if (gen_rng_chance(rng, 0.5)) {
                        gen_text_cp1251(&r->raw, rng);
                } else {
                        static const char *const junk[] = {
                                "\xff", "\xc3\x28", "\xe2\x82", "\xed\xa0\x80",
                                "\xc0\xaf"};
                        const char *s = r->desc.buf, *mid = s + r->desc.len / 2;

                        while (((unsigned char)*mid & 0xc0) == 0x80)
                                mid++;
                        gen_sb_putn(&r->raw, s, (size_t)(mid - s));
                        gen_sb_puts(&r->raw, GEN_PICK(rng, junk));
                        gen_sb_puts(&r->raw, mid);
                }
                break;
        case GEN_BAD_CAT:
                r->cat = GEN_PICK(rng, bad_cat);
                break;
        case GEN_BAD_LONG: {
                size_t want = (size_t)gen_rng_range(rng, 4001, 5200);

                while (gen_text_chars(r->desc.buf) < want) {
                        gen_sb_putc(&r->desc, ' ');
                        gen_text_description(&r->desc, rng, &d);
                }
                for (size_t n = 0, i = 0; i < r->desc.len; i++)
                        if (((unsigned char)r->desc.buf[i] & 0xc0) != 0x80 &&
                            n++ == want) {
                                r->desc.len = i;
                                r->desc.buf[i] = '\0';
                        }
                break;
        }
        case GEN_BAD_TIME:
                snprintf(r->when, sizeof(r->when), "%s",
                         GEN_PICK(rng, bad_time));
                break;
        default:
                break;
        }
}

/* ---- one record as a JSON line or a CSV row ---------------------------- */

/* Append @p s JSON-escaped, bytes >= 0x80 raw (valid or not). */
static void gen_json_raw(struct gen_sb *sb, const char *s)
{
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;

                if (c == '"' || c == '\\')
                        gen_sb_printf(sb, "\\%c", c);
                else if (c == '\n')
                        gen_sb_puts(sb, "\\n");
                else if (c < 0x20)
                        gen_sb_printf(sb, "\\u%04x", c);
                else
                        gen_sb_putc(sb, (char)c);
        }
}

static const char *gen_opt(const struct gen_sb *sb)
{
        return sb->len ? sb->buf : NULL;
}

/* @returns 0, or -1 if jansson refused a value (a bug: all text is UTF-8).
 * Keys in the schema's order; json_pack's "*" leaves out NULL members. */
static int gen_rec_json(struct gen_sb *out, const struct gen_rec *r,
                        const struct gen_item *it, struct gen_rng *rng)
{
        bool st = r->structured;
        json_t *o = json_pack(
                "{s:s, s:s, s:s, s:s, s:o, s:s*, s:{s:s*, s:s*, s:s*, s:s*, "
                "s:s*}, s:s*, s:o*, s:o*, s:o*, s:b}",
                "external_id", r->ext, "source", gen_src[it->src].source,
                "channel", gen_src[it->src].channel, "received_at", r->when,
                "category",
                it->bad == GEN_BAD_TYPE ? json_integer(it->cat + 1)
                                        : json_string(r->cat),
                "description",
                it->bad == GEN_BAD_NODESC ? NULL
                : it->bad == GEN_BAD_UTF8 ? "\x01"
                                          : r->desc.buf,
                "address", "district", st ? gen_opt(&r->dist) : NULL, "street",
                st ? r->street.buf : NULL, "house", st ? r->house.buf : NULL,
                "apartment", st ? gen_opt(&r->apt) : NULL, "text",
                st ? NULL : r->text.buf, "building_id",
                r->has_bid ? r->bid : NULL, "lat",
                r->has_ll ? json_real(r->lat / 1e6) : NULL, "long",
                r->has_ll ? json_real(r->lon / 1e6) : NULL, "contact",
                r->contact ? json_pack("{s:s, s:s}", "name", r->name.buf,
                                       "phone", r->phone)
                           : NULL,
                "emergency", r->sos);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                            JSON_REAL_PRECISION(8))
                    : NULL,
             *mark;

        json_decref(o);
        if (!s)
                return -1;
        if (it->bad == GEN_BAD_UTF8 && (mark = strstr(s, "\\u0001"))) {
                gen_sb_putn(out, s, (size_t)(mark - s));
                gen_json_raw(out, r->raw.buf);
                gen_sb_puts(out, mark + 6);
        } else if (it->bad == GEN_BAD_JSON) { /* cut before an ASCII byte */
                size_t n = strlen(s),
                       cut = n * 3 / 10 + gen_rng_below(rng, n * 6 / 10);

                while (cut > 1 && (unsigned char)s[cut] >= 0x80)
                        cut--;
                gen_sb_putn(out, s, cut);
        } else {
                gen_sb_puts(out, s);
        }
        gen_sb_putc(out, '\n');
        free(s);
        return 0;
}

static void gen_rec_csv(struct gen_sb *out, const struct gen_rec *r,
                        const struct gen_item *it, struct gen_rng *rng)
{
        char lat[24] = "", lon[24] = "";
        bool st = r->structured;
        const char *f[17] = {r->ext,
                             gen_src[it->src].source,
                             gen_src[it->src].channel,
                             r->when,
                             r->cat,
                             it->bad == GEN_BAD_NODESC ? ""
                             : it->bad == GEN_BAD_UTF8 ? r->raw.buf
                                                       : r->desc.buf,
                             st ? r->dist.buf : NULL,
                             st ? r->street.buf : NULL,
                             st ? r->house.buf : NULL,
                             st ? r->apt.buf : NULL,
                             st ? NULL : r->text.buf,
                             r->has_bid ? r->bid : NULL,
                             lat,
                             lon,
                             r->contact ? r->name.buf : NULL,
                             r->contact ? r->phone : NULL,
                             r->sos ? "true" : "false"};
        size_t n = NELEM(f);

        if (r->has_ll) {
                snprintf(lat, sizeof(lat), "%d.%06d", r->lat / 1000000,
                         r->lat % 1000000);
                snprintf(lon, sizeof(lon), "%d.%06d", r->lon / 1000000,
                         r->lon % 1000000);
        }
        if (it->bad == GEN_BAD_JSON) /* a row cut short: too few fields */
                n = (size_t)gen_rng_range(rng, 3, 12);
        for (size_t i = 0; i < n; i++)
                gen_sb_csv(out, f[i], i + 1 == n);
}

/* ---- the complaints file and truth.csv --------------------------------- */

struct gen_line {
        uint64_t key; /* position * 64, a resubmission after its original */
        uint32_t item;
        bool dup;
};

static int gen_line_cmp(const void *a, const void *b)
{
        const struct gen_line *x = a, *y = b;

        if (x->key != y->key)
                return x->key < y->key ? -1 : 1;
        return x->item < y->item ? -1 : x->item > y->item;
}

static void gen_plan_lines(struct gen_plan *p, size_t ndup, struct gen_line *ln)
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

static void gen_truth_row(struct gen_sb *sb, size_t line,
                          const struct gen_rec *r, const struct gen_item *it,
                          bool dup, bool csv)
{
        char n[32], bid[16] = "";

        if (!it->bad && it->bld >= 0)
                snprintf(bid, sizeof(bid), "b-%06d", it->bld + 1);
        snprintf(n, sizeof(n), "%zu", line);
        gen_sb_csv(sb, n, false);
        gen_sb_csv(sb, r->ext, false);
        gen_sb_csv(sb, gen_src[it->src].source, false);
        gen_sb_csv(sb, it->bad ? "0" : "1", false);
        gen_sb_csv(sb,
                   dup                              ? "duplicate"
                   : csv && it->bad == GEN_BAD_JSON ? "invalid_csv"
                                                    : gen_reason[it->bad],
                   false);
        gen_sb_csv(sb, bid, false);
        gen_sb_csv(sb, it->bad ? "" : gen_cat_name[it->cat], false);
        gen_sb_csv(sb,
                   it->bad || r->district1 == 0
                           ? ""
                           : gen_addr_district_name(r->district1 - 1),
                   true);
}

static void gen_count(struct gen_stats *st, const struct gen_rec *r,
                      const struct gen_item *it, bool dup)
{
        st->lines++;
        st->valid += !it->bad;
        st->dups += dup;
        st->bad += it->bad != 0;
        st->with_building_id += r->has_bid;
        st->unknown_addr += it->bld < 0;
        st->emergency += r->sos;
        st->with_contact += r->contact;
        st->kazakh += r->kazakh;
}

/* systemic.csv: the systemic cases the plan made (each one building +
 * category, 3..8 complaints within a few days), from the plan's first
 * nb items, in creation order: a case starts at an item without
 * GEN_IT_REPEAT.  The truth a systemic escalation is checked against; some
 * of a case's complaints may be made malformed later (gen_plan_bad). */
static int gen_systemic_write(const struct gen_plan *p, size_t nb, char *err,
                              size_t errlen)
{
        const char *od = p->conf->out_dir;
        struct gen_sb sb = {0};
        FILE *fp = gen_out_open(od, "systemic.csv", err, errlen);
        int rc;

        if (!fp)
                return -1;
        gen_sb_puts(&sb, "building_id,category,complaints,first_at,last_at\n");
        for (size_t i = 0; i < nb;) {
                size_t j = i + 1;
                int64_t lo = p->it[i].t, hi = p->it[i].t;
                char a[32], b[32];

                while (j < nb && (p->it[j].flags & GEN_IT_REPEAT)) {
                        lo = p->it[j].t < lo ? p->it[j].t : lo;
                        hi = p->it[j].t > hi ? p->it[j].t : hi;
                        j++;
                }
                km_fmt_rfc3339(lo, a, sizeof(a));
                km_fmt_rfc3339(hi, b, sizeof(b));
                gen_sb_printf(&sb, "b-%06d,%s,%zu,%s,%s\n", p->it[i].bld + 1,
                              gen_cat_name[p->it[i].cat], j - i, a, b);
                i = j;
        }
        gen_sb_flush(&sb, fp);
        gen_sb_free(&sb);
        rc = gen_out_close(fp, od, "systemic.csv", err, errlen);
        return rc;
}

/* Plan every record, then render them line by line. */
static int gen_complaints_emit(struct gen_plan *p, FILE *fc, FILE *ft,
                               struct gen_staff *staff, struct gen_stats *st,
                               char *err, size_t errlen)
{
        const struct gen_conf *c = p->conf;
        bool csv = c->format == GEN_FMT_CSV;
        size_t nlines = (size_t)c->complaints, ndup, nbad, norig, nev, nburst;
        uint32_t serial[GEN_NSRC] = {0};
        struct gen_sb out = {0}, truth = {0};
        struct gen_line *ln = NULL;
        int rc = -1;

        ndup = (size_t)(nlines * c->dup_rate + 0.5);
        nbad = (size_t)(nlines * c->bad_rate + 0.5);
        while (ndup > 0 && ndup + nbad > nlines - ndup)
                ndup--;
        norig = nlines - ndup;
        p->it = gen_xcalloc(norig, sizeof(*p->it));
        gen_plan_init(p);
        nev = norig >= 200 ? norig * 6 / 100 : 0;
        gen_plan_events(p, nev, &st->bursts, &st->outages);
        nburst = p->n;
        while (nburst > 0 && !(p->it[nburst - 1].flags & GEN_IT_BURST))
                nburst--; /* the outages follow the systemic cases */
        if (gen_systemic_write(p, nburst, err, errlen) != 0)
                goto cleanup;
        while (p->n < norig) {
                long day =
                        (long)gen_rng_cdf(&p->rng, p->day_cdf, (size_t)c->days);
                int32_t b = gen_rng_chance(&p->rng, 0.01)
                                    ? -1
                                    : (int32_t)gen_rng_cdf(&p->rng, p->bld_cdf,
                                                           p->dir->nb);

                int64_t t = gen_plan_time(p, day);
                int cat = gen_plan_cat(p, day, b);

                gen_plan_add(p, t, b, cat, 0);
        }
        qsort(p->it, p->n, sizeof(*p->it), gen_item_cmp);
        for (size_t i = 0; i < p->n; i++)
                p->it[i].no = ++serial[p->it[i].src];
        gen_plan_bad(p, nbad);
        ln = gen_xmalloc((norig + ndup) * sizeof(*ln));
        gen_plan_lines(p, ndup, ln);
        if (csv)
                gen_sb_puts(&out, "external_id,source,channel,received_at,"
                                  "category,description,district,street,house,"
                                  "apartment,address_text,building_id,lat,long,"
                                  "contact_name,contact_phone,emergency\n");
        gen_sb_puts(&truth, "line,external_id,source,valid,reason,"
                            "building_id,category,district\n");
        for (size_t i = 0; i < norig + ndup; i++) {
                const struct gen_item *it = &p->it[ln[i].item];
                struct gen_rec r = {0};
                struct gen_rng rng;

                gen_rng_seed(&rng, c->seed, (1ULL << 32) + it->seq);
                gen_rec_fill(&r, p->dir, c, it, &rng);
                if (csv) {
                        gen_rec_csv(&out, &r, it, &rng);
                } else if (gen_rec_json(&out, &r, it, &rng) != 0) {
                        snprintf(err, errlen,
                                 "line %zu: cannot encode "
                                 "record %s",
                                 i + 1, r.ext);
                        gen_rec_free(&r);
                        goto cleanup;
                }
                gen_truth_row(&truth, i + 1, &r, it, ln[i].dup, csv);
                if (!it->bad && !ln[i].dup)
                        gen_staff_add(staff, p->dir, c->seed, it->seq, it->t,
                                      strcmp(gen_cat_name[it->cat], "lift") ==
                                              0,
                                      it->bld, gen_src[it->src].source, r.ext);
                gen_count(st, &r, it, ln[i].dup);
                gen_rec_free(&r);
                if (out.len > 65536)
                        gen_sb_flush(&out, fc);
                if (truth.len > 65536)
                        gen_sb_flush(&truth, ft);
        }
        gen_sb_flush(&out, fc);
        gen_sb_flush(&truth, ft);
        rc = 0;
cleanup:
        free(ln);
        gen_sb_free(&out);
        gen_sb_free(&truth);
        return rc;
}

/** @brief Write complaints.jsonl (or .csv) and truth.csv. @returns 0/-1. */
int gen_complaints_write(const struct gen_dir *dir, const struct gen_conf *conf,
                         struct gen_stats *st, char *err, size_t errlen)
{
        const char *od = conf->out_dir;
        const char *cname = conf->format == GEN_FMT_CSV ? "complaints.csv"
                                                        : "complaints.jsonl";
        struct gen_plan p = {.dir = dir, .conf = conf};
        FILE *fc = NULL, *ft = NULL;
        struct gen_staff *staff = NULL;
        int rc = -1;

        gen_rng_seed(&p.rng, conf->seed, 2);
        fc = gen_out_open(od, cname, err, errlen);
        if (!fc)
                goto cleanup;
        ft = gen_out_open(od, "truth.csv", err, errlen);
        if (!ft)
                goto cleanup;
        staff = gen_staff_new();
        if (gen_complaints_emit(&p, fc, ft, staff, st, err, errlen) != 0 ||
            gen_staff_write(staff, dir, conf, err, errlen) != 0)
                goto cleanup;
        rc = gen_out_close(fc, od, cname, err, errlen);
        fc = NULL;
        if (rc == 0) {
                rc = gen_out_close(ft, od, "truth.csv", err, errlen);
                ft = NULL;
        }
cleanup:
        gen_out_abort(fc, od, cname);
        gen_out_abort(ft, od, "truth.csv");
        gen_staff_destroy(staff);
        free(p.it);
        free(p.day_cdf);
        free(p.bld_cdf);
        return rc;
}

/* ---- votes.jsonl ------------------------------------------------------- */

struct gen_vote {
        int64_t t;
        uint32_t seq, ksk, res;
        int score;
};

static int gen_vote_cmp(const void *a, const void *b)
{
        const struct gen_vote *x = a, *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int gen_u64_cmp(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static int gen_vote_score(struct gen_rng *rng, double quality)
{
        double u = gen_rng_unit(rng),
               x = quality + (u + gen_rng_unit(rng) - 1) * 1.6;
        int s = (int)(x + 0.5);

        return s < 1 ? 1 : s > 5 ? 5 : s;
}

/* One vote per resident per KSK per month is the rule; about 4% of the
 * lines break it on purpose (a later vote of the same resident, KSK and
 * month), so komek-vote has something to deduplicate. */
static void gen_votes_plan(const struct gen_dir *dir,
                           const struct gen_conf *conf, struct gen_vote *v,
                           size_t n)
{
        struct gen_plan p = {.dir = dir, .conf = conf};
        double *kcdf = gen_xmalloc(dir->nksk * sizeof(*kcdf)), acc = 0;

        gen_rng_seed(&p.rng, conf->seed, 3);
        for (int h = 0; h < 24; h++)
                p.hour_cdf[h] = acc += gen_hour_local[h];
        acc = 0;
        for (size_t i = 0; i < dir->nksk; i++)
                kcdf[i] = acc +=
                        dir->ksk[i].apartments * (dir->ksk[i].hot ? 1.6 : 1.0) +
                        1;
        for (size_t i = 0; i < n; i++) {
                const struct gen_org *k;

                v[i].seq = (uint32_t)i;
                if (i > 0 && gen_rng_chance(&p.rng, 0.04)) {
                        const struct gen_vote *o = &v[gen_rng_below(&p.rng, i)];
                        long end;
                        int y, m, d;

                        km_civil_from_days(o->t / 86400, &y, &m, &d);
                        end = (long)km_days_from_civil(m == 12 ? y + 1 : y,
                                                       m == 12 ? 1 : m + 1, 1);
                        if (end > conf->from_day + conf->days)
                                end = conf->from_day + conf->days;
                        v[i].ksk = o->ksk;
                        v[i].res = o->res;
                        v[i].t = o->t + gen_rng_range(&p.rng, 600, 5 * 86400);
                        if (v[i].t >= (int64_t)end * 86400)
                                v[i].t = o->t + (end * 86400 - o->t) / 2;
                } else {
                        long day = (long)gen_rng_below(&p.rng,
                                                       (uint64_t)conf->days);

                        v[i].ksk =
                                (uint32_t)gen_rng_cdf(&p.rng, kcdf, dir->nksk);
                        k = &dir->ksk[v[i].ksk];
                        v[i].res = (uint32_t)gen_rng_below(
                                &p.rng, (uint64_t)(k->apartments / 15 + 8));
                        v[i].t = gen_plan_time(&p, day);
                }
                v[i].score = gen_vote_score(&p.rng, dir->ksk[v[i].ksk].quality);
        }
        qsort(v, n, sizeof(*v), gen_vote_cmp);
        free(kcdf);
}

/** @brief Write votes.jsonl. @returns 0 or -1. */
int gen_complaints_votes(const struct gen_dir *dir, const struct gen_conf *conf,
                         struct gen_stats *st, char *err, size_t errlen)
{
        size_t n = (size_t)conf->votes;
        struct gen_vote *v = gen_xcalloc(n, sizeof(*v));
        uint64_t *keys = gen_xcalloc(n, sizeof(*keys));
        struct gen_sb sb = {0};
        FILE *fv = NULL;
        int rc = -1;

        fv = gen_out_open(conf->out_dir, "votes.jsonl", err, errlen);
        if (!fv)
                goto cleanup;
        gen_votes_plan(dir, conf, v, n);
        for (size_t i = 0; i < n; i++) {
                char when[32], phone[32];
                uint64_t h = gen_mix64(
                        conf->seed ^
                        gen_mix64(((uint64_t)v[i].ksk << 32) | v[i].res));
                char month[8], *s;
                json_t *o;

                km_fmt_rfc3339(v[i].t, when, sizeof(when));
                gen_text_mobile(phone, sizeof(phone), h, false);
                snprintf(month, sizeof(month), "%.7s", when);
                keys[i] = gen_mix64(h ^ gen_mix64(v[i].ksk)) ^
                          gen_mix64((uint64_t)atoi(when) * 16 +
                                    (uint64_t)atoi(when + 5));
                o = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ksk_id",
                              dir->ksk[v[i].ksk].id, "resident", phone, "month",
                              month, "score", v[i].score, "voted_at", when);
                s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)
                      : NULL;
                json_decref(o);
                if (!s) {
                        snprintf(err, errlen, "votes: cannot encode vote %zu",
                                 i + 1);
                        goto cleanup;
                }
                gen_sb_puts(&sb, s);
                gen_sb_putc(&sb, '\n');
                free(s);
                if (sb.len > 65536)
                        gen_sb_flush(&sb, fv);
        }
        gen_sb_flush(&sb, fv);
        qsort(keys, n, sizeof(*keys), gen_u64_cmp);
        st->votes = (long)n;
        for (size_t i = 0; i < n; i++)
                st->votes_unique += i == 0 || keys[i] != keys[i - 1];
        rc = gen_out_close(fv, conf->out_dir, "votes.jsonl", err, errlen);
        fv = NULL;
cleanup:
        gen_out_abort(fv, conf->out_dir, "votes.jsonl");
        gen_sb_free(&sb);
        free(keys);
        free(v);
        return rc;
}
