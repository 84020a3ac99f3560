/*
 * gen_votes.c - komek-gen's residents' KSK votes (votes.jsonl): one line
 * per vote, in time order, a score around the KSK's quality, times drawn
 * like the complaints' (gen_plan_time, from PRNG stream 3). The summary
 * counts the unique resident/KSK/month keys.
 */
#include "gen.h"

#include <jansson.h>
#include <stdlib.h>

#include "km_time.h"
#include "km_util.h"

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
int gen_votes_write(const struct gen_dir *dir, const struct gen_conf *conf,
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
