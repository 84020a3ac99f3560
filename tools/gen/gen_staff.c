/*
 * gen_staff.c - what the organisations' staff do with their tasks
 * (activity.jsonl, for `komek-inbox play`) and who they are (staff.csv).
 *
 * Every organisation has a profile: a KSK the generator made failing
 * ("hot") is slow, rejects, or stays silent; the others are good (the
 * better-voted half) or average; lift operators good or average by their
 * index.  For each valid complaint at a building the directory knows, the
 * organisation its category's kind gives acknowledges it after a delay,
 * then resolves it with a note, or rejects it as not theirs, or never acts,
 * with probabilities and delays drawn from its profile.  An action line:
 * {"source","external_id","org","action","at","note"}, the lines in time
 * order.  Each complaint draws from its own PRNG stream (seed, 2^33 +
 * creation index), so complaints.jsonl is the same with or without this.
 *
 * Contract: no action before its complaint was received; a resolve or
 * reject after its ack; staff.csv: org_id,kind,profile (good, average,
 * failing), one row per KSK and lift operator.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "km_util.h"

enum gen_profile { GEN_GOOD, GEN_AVERAGE, GEN_FAILING };

static const char *const gen_staff_profile_name[] = {"good", "average",
                                                     "failing"};

/* Per profile: chance to act at all, ack delay (hours, lo..hi, skewed
 * short), chance to reject, chance to resolve once acknowledged, resolve
 * delay after the ack. */
static const struct {
        double act, ack_lo, ack_hi, reject, resolve, res_lo, res_hi;
} gen_staff_p[] = {
        [GEN_GOOD] = {0.98, 0.2, 4, 0.01, 0.96, 1, 20},
        [GEN_AVERAGE] = {0.92, 1, 22, 0.03, 0.85, 6, 72},
        [GEN_FAILING] = {0.55, 20, 160, 0.15, 0.5, 48, 500},
};

static const char *const gen_staff_notes[] = {"устранили течь",
                                              "заменили участок трубы",
                                              "восстановили подачу",
                                              "провели ремонт",
                                              "вывезли мусор",
                                              "заменили лампы в подъезде",
                                              "отрегулировали отопление",
                                              "лифт запущен после ремонта",
                                              "ақаулық жойылды"};
static const char *const gen_staff_rejects[] = {"не наш дом",
                                                "не наша зона ответственности",
                                                "дом обслуживает другой КСК"};

struct gen_act {
        int64_t at;
        char *line;
};

struct gen_staff {
        struct gen_act *a;
        size_t n, cap;
};

static enum gen_profile gen_staff_ksk(const struct gen_org *o)
{
        if (o->hot)
                return GEN_FAILING;
        return o->quality >= 3.9 ? GEN_GOOD : GEN_AVERAGE;
}

static enum gen_profile gen_staff_lift(size_t i)
{
        return i % 3 == 2 ? GEN_AVERAGE : GEN_GOOD;
}

/* lo..hi hours, skewed to the short end (u^2), in seconds; no libm. */
static int64_t gen_staff_delay(struct gen_rng *rng, double lo, double hi)
{
        double u = gen_rng_unit(rng);

        return (int64_t)((lo + (hi - lo) * u * u) * 3600.0);
}

static void gen_staff_push(struct gen_staff *s, int64_t at, const char *src,
                           const char *ext, const char *org, const char *act,
                           const char *note)
{
        struct gen_sb sb = {0};
        char ts[32];

        km_fmt_rfc3339(at, ts, sizeof(ts));
        gen_sb_puts(&sb, "{\"source\":\"");
        gen_sb_puts(&sb, src); /* tokens and ids: nothing to escape */
        gen_sb_puts(&sb, "\",\"external_id\":\"");
        gen_sb_puts(&sb, ext);
        gen_sb_printf(&sb, "\",\"org\":\"%s\",\"action\":\"%s\",\"at\":\"%s\"",
                      org, act, ts);
        if (note)
                gen_sb_printf(&sb, ",\"note\":\"%s\"", note);
        gen_sb_puts(&sb, "}\n");
        if (s->n == s->cap) {
                s->cap = s->cap ? s->cap * 2 : 4096;
                s->a = gen_xrealloc(s->a, s->cap * sizeof(*s->a));
        }
        s->a[s->n].at = at;
        s->a[s->n++].line = sb.buf;
}

struct gen_staff *gen_staff_new(void)
{
        return gen_xcalloc(1, sizeof(struct gen_staff));
}

void gen_staff_add(struct gen_staff *s, const struct gen_dir *dir,
                   uint64_t seed, uint32_t seq, int64_t t, bool lift_cat,
                   int32_t bld, const char *src, const char *ext)
{
        const struct gen_building *b;
        const struct gen_org *o;
        enum gen_profile pr;
        struct gen_rng rng;
        int64_t ack;

        if (bld < 0 || (size_t)bld >= dir->nb)
                return;
        b = &dir->b[bld];
        if (lift_cat) {
                if (b->lift < 0)
                        return; /* triage: nobody's staff */
                o = &dir->lift[b->lift];
                pr = gen_staff_lift((size_t)b->lift);
        } else {
                o = &dir->ksk[b->ksk];
                pr = gen_staff_ksk(o);
        }
        gen_rng_seed(&rng, seed, (2ULL << 32) + seq);
        if (!gen_rng_chance(&rng, gen_staff_p[pr].act))
                return; /* never touched */
        ack = t + 60 +
              gen_staff_delay(&rng, gen_staff_p[pr].ack_lo,
                              gen_staff_p[pr].ack_hi);
        if (gen_rng_chance(&rng, gen_staff_p[pr].reject)) {
                gen_staff_push(s, ack, src, ext, o->id, "reject",
                               GEN_PICK(&rng, gen_staff_rejects));
                return;
        }
        gen_staff_push(s, ack, src, ext, o->id, "ack", NULL);
        if (gen_rng_chance(&rng, gen_staff_p[pr].resolve))
                gen_staff_push(s,
                               ack + 60 +
                                       gen_staff_delay(&rng,
                                                       gen_staff_p[pr].res_lo,
                                                       gen_staff_p[pr].res_hi),
                               src, ext, o->id, "resolve",
                               GEN_PICK(&rng, gen_staff_notes));
}

static int gen_act_cmp(const void *x, const void *y)
{
        const struct gen_act *a = x, *b = y;

        if (a->at != b->at)
                return a->at < b->at ? -1 : 1;
        return strcmp(a->line, b->line);
}

int gen_staff_write(struct gen_staff *s, const struct gen_dir *dir,
                    const struct gen_conf *conf, char *err, size_t errlen)
{
        const char *od = conf->out_dir;
        FILE *fa = gen_out_open(od, "activity.jsonl", err, errlen), *fs = NULL;
        struct gen_sb sb = {0};
        int rc = -1;

        if (!fa)
                return -1;
        if (s->n > 0) /* qsort of a NULL array is undefined, even empty */
                qsort(s->a, s->n, sizeof(*s->a), gen_act_cmp);
        for (size_t i = 0; i < s->n; i++) {
                gen_sb_puts(&sb, s->a[i].line);
                if (sb.len > 65536)
                        gen_sb_flush(&sb, fa);
        }
        gen_sb_flush(&sb, fa);
        fs = gen_out_open(od, "staff.csv", err, errlen);
        if (!fs)
                goto cleanup;
        gen_sb_puts(&sb, "org_id,kind,profile\n");
        for (size_t i = 0; i < dir->nksk; i++)
                gen_sb_printf(
                        &sb, "%s,ksk,%s\n", dir->ksk[i].id,
                        gen_staff_profile_name[gen_staff_ksk(&dir->ksk[i])]);
        for (size_t i = 0; i < dir->nlift; i++)
                gen_sb_printf(&sb, "%s,lift_operator,%s\n", dir->lift[i].id,
                              gen_staff_profile_name[gen_staff_lift(i)]);
        gen_sb_flush(&sb, fs);
        rc = gen_out_close(fa, od, "activity.jsonl", err, errlen);
        fa = NULL;
        if (rc == 0)
                rc = gen_out_close(fs, od, "staff.csv", err, errlen);
        fs = NULL;
cleanup:
        gen_sb_free(&sb);
        if (fa)
                gen_out_abort(fa, od, "activity.jsonl");
        if (fs)
                gen_out_abort(fs, od, "staff.csv");
        return rc;
}

void gen_staff_destroy(struct gen_staff *s)
{
        if (s == NULL)
                return;
        for (size_t i = 0; i < s->n; i++)
                free(s->a[i].line);
        free(s->a);
        free(s);
}
