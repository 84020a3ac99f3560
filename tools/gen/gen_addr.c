/*
 * gen_addr.c - komek-gen's districts and how residents spell an address of
 * the directory: street type words, house numbers, apartments, district
 * and city names, each in the ways residents write them.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#define NELEM(a) GEN_NELEM(a)

/* ---- districts --------------------------------------------------------- */

static const char *const gen_addr_dist[GEN_NDISTRICTS] = {
        "Алматы", "Байконур", "Есиль", "Нура", "Сарыарка", "Сарайшык"};
static const char *const gen_addr_dist_adj[GEN_NDISTRICTS] = {
        "Алматинский", "Байконурский",  "Есильский",
        "Нуринский",   "Сарыаркинский", "Сарайшыкский"};
static const char *const gen_addr_dist_kz[GEN_NDISTRICTS] = {
        "Алматы ауданы", "Байқоңыр ауданы", "Есіл ауданы",
        "Нұра ауданы",   "Сарыарқа ауданы", "Сарайшық ауданы"};
static const char *const gen_addr_dist_lat[GEN_NDISTRICTS] = {
        "Almaty", "Baikonur", "Yesil", "Nura", "Saryarka", "Saraishyk"};

const char *gen_addr_district_name(int d)
{
        return gen_addr_dist[d];
}
/* ---- addresses --------------------------------------------------------- */

struct gen_addr_type {
        const char *word;
        const char *cyr[5];
        const char *lat[3];
        const char *kz;
};

static const struct gen_addr_type gen_addr_types[] = {
        {"улица",
         {"ул.", "ул.", "ул", "Ул.", "УЛ."},
         {"ul.", "ulitsa", "ul"},
         "көшесі"},
        {"проспект",
         {"пр.", "пр-т", "просп.", "пр", "пр-кт"},
         {"pr.", "pr-t", "prospekt"},
         "даңғылы"},
        {"бульвар",
         {"б-р", "бульв.", "б-р", "бул.", "бульв."},
         {"bulvar", "b-r", "bulvar"},
         "бульвары"},
        {"шоссе",
         {"ш.", "ш.", "шос.", "ш", "ш."},
         {"sh.", "shosse", "sh."},
         "тас жолы"},
        {"переулок",
         {"пер.", "пер.", "пер", "пер-к", "пер."},
         {"per.", "pereulok", "per."},
         "тұйық көшесі"},
};

/** @brief Append the street as a resident might write it. */
void gen_addr_street(struct gen_sb *sb, struct gen_rng *rng, const char *canon,
                     const char *kz, enum gen_style style)
{
        const char *sp = strchr(canon, ' ');
        const struct gen_addr_type *t = &gen_addr_types[0];
        struct gen_sb proper = {0};
        double r = gen_rng_unit(rng);

        for (size_t i = 0; i < NELEM(gen_addr_types); i++)
                if (sp && strncmp(canon, gen_addr_types[i].word,
                                  (size_t)(sp - canon)) == 0)
                        t = &gen_addr_types[i];
        gen_sb_puts(&proper, sp ? sp + 1 : canon);
        if (style == GEN_STYLE_KAZ) {
                if (kz)
                        gen_sb_puts(sb, kz);
                else
                        gen_sb_printf(sb, "%s %s", proper.buf, t->kz);
        } else if (style == GEN_STYLE_LATIN) {
                if (r >= 0.2) {
                        gen_sb_puts(sb, t->lat[gen_rng_below(rng, 3)]);
                        gen_sb_putc(sb, ' ');
                }
                gen_text_translit(sb, proper.buf);
        } else {
                const char *w = gen_rng_chance(rng, 0.45)
                                        ? t->word
                                        : t->cyr[gen_rng_below(rng, 5)];

                if (strstr(proper.buf, "ё") && gen_rng_chance(rng, 0.5))
                        gen_text_case(&proper, 'e');
                if (r < 0.15) {
                        gen_sb_puts(sb, proper.buf);
                } else if (r < 0.25) {
                        gen_sb_printf(sb, "%s %s", proper.buf, w);
                } else {
                        gen_sb_puts(sb, w);
                        if (w[strlen(w) - 1] != '.' || gen_rng_chance(rng, 0.7))
                                gen_sb_putc(sb, ' ');
                        gen_sb_puts(sb, proper.buf);
                }
        }
        gen_sb_free(&proper);
}

/** @brief Append house "12", "12/1", "45А" in a resident's spelling. */
void gen_addr_house(struct gen_sb *sb, struct gen_rng *rng, const char *house,
                    enum gen_style style, bool prefix)
{
        static const char *const cyr[] = {"д. ", "д.", "дом ", "д "};
        static const char *const lat[] = {"d. ", "dom ", "d."};
        size_t n = strspn(house, "0123456789");
        const char *rest = house + n;

        if (prefix && style == GEN_STYLE_CYR)
                gen_sb_puts(sb, GEN_PICK(rng, cyr));
        else if (prefix && style == GEN_STYLE_LATIN)
                gen_sb_puts(sb, GEN_PICK(rng, lat));
        gen_sb_putn(sb, house, n);
        if (*rest == '/') {
                double r = gen_rng_unit(rng);

                if (style == GEN_STYLE_LATIN && r >= 0.7)
                        gen_sb_printf(sb, " korp. %s", rest + 1);
                else if (style != GEN_STYLE_CYR || r < 0.55)
                        gen_sb_puts(sb, rest);
                else if (r < 0.70)
                        gen_sb_printf(sb, " корп. %s", rest + 1);
                else if (r < 0.80)
                        gen_sb_printf(sb, "к%s", rest + 1);
                else if (r < 0.90)
                        gen_sb_printf(sb, " корпус %s", rest + 1);
                else
                        gen_sb_puts(sb, rest);
        } else if (*rest) {
                struct gen_sb l = {0};
                double r = gen_rng_unit(rng);

                gen_sb_puts(&l, rest);
                if (style == GEN_STYLE_LATIN) {
                        struct gen_sb t = {0};

                        gen_text_translit(&t, l.buf);
                        gen_sb_reset(&l);
                        gen_sb_puts(&l, t.buf);
                        gen_sb_free(&t);
                }
                if (r < 0.25)
                        gen_text_case(&l, 'l');
                if (r >= 0.80)
                        gen_sb_putc(sb, r < 0.9 ? ' ' : '-');
                gen_sb_puts(sb, l.buf);
                gen_sb_free(&l);
        }
}

void gen_addr_apartment(struct gen_sb *sb, struct gen_rng *rng, int apt,
                        enum gen_style style, bool prefix)
{
        static const char *const cyr[] = {"кв. ", "кв.", "кв ", "квартира "};
        static const char *const lat[] = {"kv. ", "kv ", "kv."};

        if (!prefix) {
                gen_sb_printf(sb, "%d", apt);
        } else if (style == GEN_STYLE_KAZ) {
                gen_sb_printf(sb, "%d пәтер", apt);
        } else {
                gen_sb_puts(sb, style == GEN_STYLE_LATIN ? GEN_PICK(rng, lat)
                                                         : GEN_PICK(rng, cyr));
                gen_sb_printf(sb, "%d", apt);
        }
}

void gen_addr_district(struct gen_sb *sb, struct gen_rng *rng, int d,
                       enum gen_style style)
{
        double r = gen_rng_unit(rng);

        if (style == GEN_STYLE_MARKED)
                r = 0.6 + 0.4 * r;
        if (style == GEN_STYLE_KAZ)
                gen_sb_puts(sb, gen_addr_dist_kz[d]);
        else if (style == GEN_STYLE_LATIN)
                gen_sb_printf(sb, r < 0.7 ? "%s" : "%s r-n",
                              gen_addr_dist_lat[d]);
        else if (r < 0.6)
                gen_sb_puts(sb, gen_addr_dist[d]);
        else if (r < 0.7)
                gen_sb_printf(sb, "р-н %s", gen_addr_dist[d]);
        else if (r < 0.8)
                gen_sb_printf(sb, "%s р-н", gen_addr_dist[d]);
        else if (r < 0.95)
                gen_sb_printf(sb, "%s район", gen_addr_dist_adj[d]);
        else
                gen_sb_printf(sb, "район %s", gen_addr_dist[d]);
}

/** @brief Append an optional city prefix ("г. Астана, "), maybe nothing. */
void gen_addr_city(struct gen_sb *sb, struct gen_rng *rng, enum gen_style style)
{
        static const char *const cyr[] = {"г. Астана, ",     "г.Астана, ",
                                          "Астана, ",        "г. Астана ",
                                          "г. Нур-Султан, ", "Астана г., "};
        static const char *const lat[] = {"Astana, ", "g. Astana, "};
        static const char *const kz[] = {"Астана қ., ", "Астана қаласы, "};

        if (gen_rng_chance(rng, 0.5))
                return;
        if (style == GEN_STYLE_LATIN)
                gen_sb_puts(sb, GEN_PICK(rng, lat));
        else if (style == GEN_STYLE_KAZ)
                gen_sb_puts(sb, GEN_PICK(rng, kz));
        else
                gen_sb_puts(sb, GEN_PICK(rng, cyr));
}

/** @brief Case changes, doubled or stray spaces, trailing punctuation. */
