/*
 * gen_complaints.c - komek-gen's complaints (complaints.jsonl or .csv)
 * with truth.csv and systemic.csv: it makes the plan (gen_plan.c),
 * renders each line (gen_rec.c), and writes the truth row of each line
 * alongside it. Residents' votes are in gen_votes.c.
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

#include <stdlib.h>
#include <string.h>

#include "km_util.h"

static const char *const gen_reason[GEN_NBAD] = {"",
                                                 "invalid_json",
                                                 "invalid_utf8",
                                                 "unknown_category",
                                                 "missing_field:description",
                                                 "wrong_type:category",
                                                 "too_long:description",
                                                 "invalid_field:received_at"};

static int gen_item_cmp(const void *a, const void *b)
{
        const struct gen_item *x = a, *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- the complaints file and truth.csv --------------------------------- */

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
