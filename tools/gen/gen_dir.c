/*
 * gen_dir.c - komek-gen's city directory: districts, streets, buildings,
 * KSKs, lift operators and utilities (organisations.csv, buildings.csv);
 * how residents spell its addresses is in gen_addr.c.
 *
 * Contract: (street, house) is unique city-wide (a street listed in two
 * districts shares one house-number sequence), hence (street, house,
 * district) is unique; buildings with 6 floors or more have a lift
 * operator; every KSK manages at least one building, most of them in its
 * home district; coordinates stay within Astana (51.08..51.23 N,
 * 71.30..71.58 E).
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#define NELEM(a) GEN_NELEM(a)

/* ---- building the directory -------------------------------------------- */

/* Housing stock share and rough bounding box (micro-degrees) per district:
 * Сарыарка and Байконур on the old right bank, Есиль, Нура and Сарайшык on
 * the new left bank. */
static const double gen_dir_share[GEN_NDISTRICTS] = {0.20, 0.14, 0.20,
                                                     0.14, 0.20, 0.12};
static const int32_t gen_dir_box[GEN_NDISTRICTS][4] = {
        {51140000, 51190000, 71460000, 71560000},
        {51160000, 51200000, 71410000, 71470000},
        {51080000, 51130000, 71380000, 71470000},
        {51090000, 51140000, 71470000, 71570000},
        {51175000, 51225000, 71320000, 71430000},
        {51120000, 51160000, 71400000, 71470000}};
/* Building types: low-rise, 5-storey, 9-storey, 12-16, 17-25 floors. */
static const double gen_dir_types_by_d[GEN_NDISTRICTS][5] = {
        {0.10, 0.30, 0.30, 0.20, 0.10}, {0.15, 0.40, 0.30, 0.10, 0.05},
        {0.03, 0.07, 0.30, 0.35, 0.25}, {0.10, 0.10, 0.35, 0.30, 0.15},
        {0.15, 0.40, 0.30, 0.10, 0.05}, {0.05, 0.10, 0.35, 0.30, 0.20}};
static const int gen_dir_floors[5][2] = {
        {1, 3}, {4, 5}, {9, 10}, {12, 16}, {17, 25}};
static const int gen_dir_entr[5][2] = {{1, 2}, {2, 6}, {1, 4}, {1, 3}, {1, 2}};
static const int gen_dir_perfl[5][2] = {{2, 4}, {3, 4}, {4, 4}, {4, 6}, {4, 8}};
static const double gen_dir_wtype[5] = {1.2, 1.3, 1.0, 0.85, 0.8};

#define GEN_DIR_PER_STREET 120

/* Split @p total over n parts in proportion to @p w (floors, then the
 * remainder round-robin); every part with weight gets >= 1 when there
 * are enough to go round. */
static void gen_dir_split(long total, const double *w, size_t n, long *out)
{
        double sum = 0;
        long left = total, npos = 0;

        for (size_t i = 0; i < n; i++) {
                sum += w[i];
                npos += w[i] > 0;
        }
        for (size_t i = 0; i < n; i++) {
                out[i] = w[i] > 0 ? (long)(total * (w[i] / sum)) : 0;
                if (out[i] == 0 && w[i] > 0 && total >= npos)
                        out[i] = 1;
                left -= out[i];
        }
        for (size_t i = 0; npos && left != 0; i = (i + 1) % n) {
                if (w[i] <= 0 || (left < 0 && out[i] <= 1))
                        continue;
                out[i] += left > 0 ? 1 : -1;
                left += left > 0 ? -1 : 1;
        }
}

static void gen_dir_add_street(struct gen_dir *dir, size_t *cap,
                               const char *name, const char *kz, int d)
{
        struct gen_street *s;

        if (dir->nstreets == *cap) {
                *cap = *cap ? *cap * 2 : 128;
                dir->streets = gen_xrealloc(dir->streets,
                                            *cap * sizeof(*dir->streets));
        }
        s = &dir->streets[dir->nstreets];
        memset(s, 0, sizeof(*s));
        s->name = gen_xstrdup(name);
        s->kz = kz;
        s->district = d;
        s->counter = (int)dir->nstreets;
        for (size_t i = 0; i < dir->nstreets; i++)
                if (strcmp(dir->streets[i].name, name) == 0) {
                        s->counter = dir->streets[i].counter;
                        break;
                }
        dir->nstreets++;
}

/* Streets per district: the listed ones, then pool names (the old right
 * bank first, at most 10 each on the left bank), then numbered streets
 * ("улица Е-112") as in new Astana. */
static void gen_dir_streets(struct gen_dir *dir, const long *nd,
                            struct gen_rng *rng)
{
        static const int order[GEN_NDISTRICTS] = {4, 1, 0, 2, 3, 5};
        size_t cap = 0, pool = 0, ntab = gen_text_streets(0, 0, 0, 0);
        long num[2] = {0};
        char name[96];

        for (int k = 0; k < GEN_NDISTRICTS; k++) {
                int d = order[k], left = k >= 3;
                long have = 0, want = (nd[d] + GEN_DIR_PER_STREET - 1) /
                                      GEN_DIR_PER_STREET;

                for (size_t i = 0; i < ntab && have < nd[d]; i++) {
                        const char *tname, *kz;
                        int sd;

                        gen_text_streets(i, &tname, &kz, &sd);
                        if (sd == d) {
                                gen_dir_add_street(dir, &cap, tname, kz, d);
                                have++;
                        }
                }
                for (int lim = left ? 10 : 1000;
                     lim > 0 && have < want && gen_text_pool_street(pool);
                     lim--, have++) {
                        snprintf(name, sizeof(name), "улица %s",
                                 gen_text_pool_street(pool++));
                        gen_dir_add_street(dir, &cap, name, NULL, d);
                }
                for (; have < want; have++) {
                        num[left] += gen_rng_range(rng, 1, 5);
                        snprintf(name, sizeof(name), "улица %s-%ld",
                                 left ? "Е" : "А", 10 + num[left]);
                        gen_dir_add_street(dir, &cap, name, NULL, d);
                }
        }
}

static void gen_dir_next_house(struct gen_street *c, struct gen_rng *rng,
                               char *out, size_t len)
{
        static const char *const let[] = {"А", "Б", "В"};
        double r;

        if (c->grp_k < c->grp_max) {
                c->grp_k++;
                if (c->grp_kind == '/')
                        snprintf(out, len, "%d/%d", c->grp_no, c->grp_k);
                else
                        snprintf(out, len, "%d%s", c->grp_no,
                                 let[c->grp_k - 1]);
                return;
        }
        r = gen_rng_unit(rng);
        c->next_no += r < 0.7    ? 1
                      : r < 0.95 ? 2
                                 : (int)gen_rng_range(rng, 3, 5);
        c->grp_no = c->next_no;
        c->grp_k = c->grp_max = 0;
        r = gen_rng_unit(rng);
        if (r < 0.78 || r >= 0.95) {
                snprintf(out, len, "%d", c->grp_no);
                if (r >= 0.95) { /* "12", then "12А" (and "12Б") */
                        c->grp_kind = 'L';
                        c->grp_max = (int)gen_rng_range(rng, 1, 2);
                }
                return;
        }
        c->grp_kind = r < 0.90 ? '/' : 'L';
        c->grp_max = r < 0.90 ? (int)gen_rng_range(rng, 2, 3) : 1;
        c->grp_k = 1;
        if (c->grp_kind == '/')
                snprintf(out, len, "%d/1", c->grp_no);
        else
                snprintf(out, len, "%dА", c->grp_no);
}

static double gen_dir_street_weight(const char *name)
{
        const char *dash = strrchr(name, '-');

        if (strncmp(name, "проспект", strlen("проспект")) == 0)
                return 2.0;
        if (dash && dash[1] >= '0' && dash[1] <= '9')
                return 0.7;
        if (strncmp(name, "улица", strlen("улица")) == 0)
                return 1.0;
        if (strncmp(name, "бульвар", strlen("бульвар")) == 0)
                return 0.8;
        return strncmp(name, "шоссе", strlen("шоссе")) == 0 ? 0.6 : 0.3;
}

static int32_t gen_dir_clamp(int64_t v, int32_t lo, int32_t hi)
{
        return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* Lay out @p cnt buildings of street @p s along a line in its district. */
static void gen_dir_street_buildings(struct gen_dir *dir, size_t si, long cnt,
                                     struct gen_rng *rng)
{
        struct gen_street *s = &dir->streets[si];
        const int32_t *box = gen_dir_box[s->district];
        double dx = gen_rng_unit(rng) * 2 - 1, dy = gen_rng_unit(rng) * 2 - 1;
        double m =
                dx * dx > dy * dy ? (dx < 0 ? -dx : dx) : (dy < 0 ? -dy : dy);
        int64_t end;

        if (m < 1e-6) {
                dx = m = 1;
                dy = 0;
        }
        s->lat0 = (int32_t)gen_rng_range(rng, box[0], box[1]);
        s->lon0 = (int32_t)gen_rng_range(rng, box[2], box[3]);
        s->dlat = (int32_t)(270 * dy / m); /* about 30 m per building */
        s->dlon = (int32_t)(429 * dx / m);
        end = s->lat0 + (int64_t)cnt * s->dlat;
        if (end < box[0] || end > box[1])
                s->dlat = -s->dlat;
        end = s->lon0 + (int64_t)cnt * s->dlon;
        if (end < box[2] || end > box[3])
                s->dlon = -s->dlon;
        s->nbuildings = (int)cnt;
        for (long k = 0; k < cnt; k++) {
                struct gen_building *b = &dir->b[dir->nb++];
                const double *tw = gen_dir_types_by_d[s->district];
                size_t t = gen_rng_weighted(rng, tw, 5);
                long pf, apts;

                b->street = (int)si;
                b->district = s->district;
                gen_dir_next_house(&dir->streets[s->counter], rng, b->house,
                                   sizeof(b->house));
                b->floors = (int)gen_rng_range(rng, gen_dir_floors[t][0],
                                               gen_dir_floors[t][1]);
                b->entrances = (int)gen_rng_range(rng, gen_dir_entr[t][0],
                                                  gen_dir_entr[t][1]);
                pf = gen_rng_range(rng, gen_dir_perfl[t][0],
                                   gen_dir_perfl[t][1]);
                apts = b->floors * b->entrances * pf;
                b->apartments = (int)(apts < 8 ? 8 : apts > 400 ? 400 : apts);
                b->weight = gen_dir_wtype[t] * (0.6 + 0.8 * gen_rng_unit(rng));
                b->lat = gen_dir_clamp(s->lat0 + (int64_t)k * s->dlat +
                                               gen_rng_range(rng, -300, 300),
                                       51080000, 51230000);
                b->lon = gen_dir_clamp(s->lon0 + (int64_t)k * s->dlon +
                                               gen_rng_range(rng, -400, 400),
                                       71300000, 71580000);
                b->ksk = -1;
                b->lift = -1;
        }
}

static void gen_dir_buildings(struct gen_dir *dir, const long *nd,
                              struct gen_rng *rng)
{
        double *w = gen_xmalloc(dir->nstreets * sizeof(*w));
        long *cnt = gen_xmalloc(dir->nstreets * sizeof(*cnt));

        for (int d = 0; d < GEN_NDISTRICTS; d++) {
                for (size_t i = 0; i < dir->nstreets; i++)
                        w[i] = dir->streets[i].district == d
                                       ? gen_dir_street_weight(
                                                 dir->streets[i].name)
                                       : 0;
                gen_dir_split(nd[d], w, dir->nstreets, cnt);
                dir->dist_first[d] = dir->nb;
                for (size_t i = 0; i < dir->nstreets; i++)
                        if (cnt[i] > 0)
                                gen_dir_street_buildings(dir, i, cnt[i], rng);
                dir->dist_count[d] = dir->nb - dir->dist_first[d];
        }
        free(w);
        free(cnt);
}

/* KSKs: each district's buildings, in street order, are cut into runs,
 * one per KSK of that district; then a few buildings move to a KSK of
 * another district ("mostly one district"). */
static void gen_dir_ksks(struct gen_dir *dir, const struct gen_conf *conf,
                         struct gen_rng *rng)
{
        long kd[GEN_NDISTRICTS] = {0}, left = conf->ksks, *cnt, *runs;
        size_t k = 0;
        double *w;

        for (int d = 0; d < GEN_NDISTRICTS && left > 0; d++)
                if (dir->dist_count[d]) {
                        kd[d] = 1;
                        left--;
                }
        while (left > 0) { /* most buildings per KSK gets the next one */
                int best = -1;

                for (int d = 0; d < GEN_NDISTRICTS; d++)
                        if (kd[d] < (long)dir->dist_count[d] &&
                            (best < 0 ||
                             (double)dir->dist_count[d] / (kd[d] + 1) >
                                     (double)dir->dist_count[best] /
                                             (kd[best] + 1)))
                                best = d;
                kd[best]++;
                left--;
        }
        dir->nksk = (size_t)conf->ksks;
        dir->ksk = gen_xcalloc(dir->nksk, sizeof(*dir->ksk));
        cnt = gen_xcalloc(dir->nksk, sizeof(*cnt));
        for (int d = 0; d < GEN_NDISTRICTS; d++) {
                size_t first = k, bi = dir->dist_first[d];

                w = gen_xmalloc((size_t)(kd[d] ? kd[d] : 1) * sizeof(*w));
                runs = gen_xmalloc((size_t)(kd[d] ? kd[d] : 1) * sizeof(*runs));
                for (long i = 0; i < kd[d]; i++) {
                        w[i] = 0.3 + 1.7 * gen_rng_unit(rng);
                        dir->ksk[k++].district = d;
                }
                gen_dir_split((long)dir->dist_count[d], w, (size_t)kd[d], runs);
                for (long i = 0; i < kd[d]; i++)
                        for (long j = 0; j < runs[i]; j++)
                                dir->b[bi++].ksk = (int)(first + (size_t)i);
                for (; bi < dir->dist_first[d] + dir->dist_count[d]; bi++)
                        dir->b[bi].ksk = (int)gen_rng_below(rng, dir->nksk);
                free(w);
                free(runs);
        }
        for (size_t i = 0; i < dir->nb; i++)
                cnt[dir->b[i].ksk]++;
        for (size_t i = 0; i < dir->nb; i++) {
                struct gen_building *b = &dir->b[i];
                size_t j = gen_rng_below(rng, dir->nksk);

                if (gen_rng_chance(rng, 0.04) && cnt[b->ksk] > 1 &&
                    dir->ksk[j].district != b->district) {
                        cnt[b->ksk]--;
                        cnt[j]++;
                        b->ksk = (int)j;
                }
        }
        free(cnt);
}

/* Names, phones, lift operators, and the few systemically failing
 * ("hot") KSKs the analytics must find. */
static void gen_dir_orgs(struct gen_dir *dir, const struct gen_conf *conf,
                         struct gen_rng *rng)
{
        struct gen_sb sb = {0};
        double *lw;

        dir->nlift = (size_t)conf->lift_ops;
        dir->lift = gen_xcalloc(dir->nlift, sizeof(*dir->lift));
        lw = gen_xmalloc(dir->nlift * sizeof(*lw));
        for (size_t i = 0; i < dir->nlift; i++) {
                struct gen_org *o = &dir->lift[i];

                snprintf(o->id, sizeof(o->id), "lift-%03u", (unsigned)(i + 1));
                gen_sb_reset(&sb);
                gen_text_lift_name(&sb, i);
                o->name = gen_xstrdup(sb.buf);
                o->district = -1;
                gen_text_office_phone(o->phone, sizeof(o->phone), rng);
                lw[i] = 0.2 + 1.6 * gen_rng_unit(rng);
        }
        for (size_t i = 0; i < dir->nksk; i++) {
                struct gen_org *o = &dir->ksk[i];

                snprintf(o->id, sizeof(o->id), "ksk-%04u", (unsigned)(i + 1));
                gen_sb_reset(&sb);
                gen_text_ksk_name(&sb, rng, i);
                o->name = gen_xstrdup(sb.buf);
                gen_text_office_phone(o->phone, sizeof(o->phone), rng);
                o->lift_op = (int)gen_rng_weighted(rng, lw, dir->nlift);
                o->factor = 0.6 + 0.8 * gen_rng_unit(rng);
                o->quality = 3.3 + 1.2 * gen_rng_unit(rng);
        }
        for (size_t i = 0; i < dir->nb; i++) {
                struct gen_building *b = &dir->b[i];
                struct gen_org *o = &dir->ksk[b->ksk];

                o->apartments += b->apartments;
                o->nbuildings++;
                dir->apartments += b->apartments;
                if (b->floors < 6)
                        continue;
                b->lift = gen_rng_chance(rng, 0.85)
                                  ? o->lift_op
                                  : (int)gen_rng_weighted(rng, lw, dir->nlift);
                dir->nlifted++;
        }
        /* about 3% hot, among KSKs with a few buildings */
        dir->nhot = dir->nksk >= 10 ? (long)(dir->nksk * 0.03 + 0.5)
                                    : dir->nksk >= 3;
        for (long h = 0, tries = 0; h < dir->nhot && tries < 100000; tries++) {
                struct gen_org *o = &dir->ksk[gen_rng_below(rng, dir->nksk)];

                if (o->hot || (o->nbuildings < 3 && tries < 1000))
                        continue;
                o->hot = true;
                o->factor = 4.0 + 3.0 * gen_rng_unit(rng);
                o->quality = 1.5 + 1.0 * gen_rng_unit(rng);
                h++;
        }
        dir->nutil = (size_t)conf->utilities;
        dir->util =
                gen_xcalloc(dir->nutil ? dir->nutil : 1, sizeof(*dir->util));
        for (size_t i = 0; i < dir->nutil; i++) {
                struct gen_org *o = &dir->util[i];

                snprintf(o->id, sizeof(o->id), "util-%02u", (unsigned)(i + 1));
                gen_sb_reset(&sb);
                gen_text_util_name(&sb, i);
                o->name = gen_xstrdup(sb.buf);
                o->district = -1;
                gen_text_office_phone(o->phone, sizeof(o->phone), rng);
        }
        free(lw);
        gen_sb_free(&sb);
}

/**
 * @brief Build the whole directory from conf->seed.
 * @returns 0 (only out of memory can fail, and that exits).
 */
int gen_dir_build(struct gen_dir *dir, const struct gen_conf *conf, char *err,
                  size_t errlen)
{
        struct gen_rng rng;
        long nd[GEN_NDISTRICTS];

        (void)err;
        (void)errlen;
        gen_rng_seed(&rng, conf->seed, 1);
        gen_dir_split(conf->buildings, gen_dir_share, GEN_NDISTRICTS, nd);
        gen_dir_streets(dir, nd, &rng);
        dir->b = gen_xcalloc((size_t)conf->buildings, sizeof(*dir->b));
        gen_dir_buildings(dir, nd, &rng);
        gen_dir_ksks(dir, conf, &rng);
        gen_dir_orgs(dir, conf, &rng);
        return 0;
}

static void gen_dir_org_row(struct gen_sb *sb, const struct gen_org *o,
                            const char *kind)
{
        gen_sb_csv(sb, o->id, false);
        gen_sb_csv(sb, kind, false);
        gen_sb_csv(sb, o->name, false);
        gen_sb_csv(sb,
                   o->district >= 0 ? gen_addr_district_name(o->district)
                                    : NULL,
                   false);
        gen_sb_csv(sb, o->phone, true);
}

static void gen_dir_building_row(struct gen_sb *sb, const struct gen_dir *dir,
                                 size_t i)
{
        const struct gen_building *b = &dir->b[i];
        char n[32];

        snprintf(n, sizeof(n), "b-%06zu", i + 1);
        gen_sb_csv(sb, n, false);
        gen_sb_csv(sb, gen_addr_district_name(b->district), false);
        gen_sb_csv(sb, dir->streets[b->street].name, false);
        gen_sb_csv(sb, b->house, false);
        snprintf(n, sizeof(n), "%d", b->apartments);
        gen_sb_csv(sb, n, false);
        gen_sb_csv(sb, dir->ksk[b->ksk].id, false);
        gen_sb_csv(sb, b->lift >= 0 ? dir->lift[b->lift].id : NULL, false);
        gen_sb_micro(sb, b->lat);
        gen_sb_putc(sb, ',');
        gen_sb_micro(sb, b->lon);
        gen_sb_putc(sb, '\n');
}

/** @brief Write organisations.csv and buildings.csv. @returns 0 or -1. */
int gen_dir_write(const struct gen_dir *dir, const struct gen_conf *conf,
                  char *err, size_t errlen)
{
        static const struct gen_org triage = {
                .id = "triage",
                .name = "Контакт-центр 109: разбор",
                .district = -1,
                .phone = "109"};
        const char *od = conf->out_dir;
        struct gen_sb sb = {0};
        FILE *fo = NULL, *fb = NULL;
        int rc = -1;

        fo = gen_out_open(od, "organisations.csv", err, errlen);
        if (!fo)
                goto cleanup;
        gen_sb_puts(&sb, "id,kind,name,district,phone\n");
        for (size_t i = 0; i < dir->nksk; i++)
                gen_dir_org_row(&sb, &dir->ksk[i], "ksk");
        for (size_t i = 0; i < dir->nlift; i++)
                gen_dir_org_row(&sb, &dir->lift[i], "lift_operator");
        for (size_t i = 0; i < dir->nutil; i++)
                gen_dir_org_row(&sb, &dir->util[i], "utility");
        gen_dir_org_row(&sb, &triage, "triage");
        gen_sb_flush(&sb, fo);
        rc = gen_out_close(fo, od, "organisations.csv", err, errlen);
        fo = NULL;
        if (rc != 0)
                goto cleanup;
        rc = -1;
        fb = gen_out_open(od, "buildings.csv", err, errlen);
        if (!fb)
                goto cleanup;
        gen_sb_puts(&sb, "id,district,street,house,apartments,ksk_id,"
                         "lift_operator_id,lat,long\n");
        for (size_t i = 0; i < dir->nb; i++) {
                gen_dir_building_row(&sb, dir, i);
                if (sb.len > 65536)
                        gen_sb_flush(&sb, fb);
        }
        gen_sb_flush(&sb, fb);
        rc = gen_out_close(fb, od, "buildings.csv", err, errlen);
        fb = NULL;
cleanup:
        gen_out_abort(fo, od, "organisations.csv");
        gen_out_abort(fb, od, "buildings.csv");
        gen_sb_free(&sb);
        return rc;
}

void gen_dir_destroy(struct gen_dir *dir)
{
        for (size_t i = 0; dir->streets && i < dir->nstreets; i++)
                free(dir->streets[i].name);
        for (size_t i = 0; dir->ksk && i < dir->nksk; i++)
                free(dir->ksk[i].name);
        for (size_t i = 0; dir->lift && i < dir->nlift; i++)
                free(dir->lift[i].name);
        for (size_t i = 0; dir->util && i < dir->nutil; i++)
                free(dir->util[i].name);
        free(dir->streets);
        free(dir->b);
        free(dir->ksk);
        free(dir->lift);
        free(dir->util);
        memset(dir, 0, sizeof(*dir));
}
