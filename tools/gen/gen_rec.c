/*
 * gen_rec.c - komek-gen renders one planned complaint (struct gen_item,
 * gen_plan.c) as a struct gen_rec: external id, description, the address
 * as a resident spells it, contact, and its one defect if the plan made
 * it malformed; then as a JSON line or a CSV row.
 *
 * Contract: a record draws only from the PRNG stream it is handed
 * (seed, creation index: gen_complaints.c), so a resubmission re-renders
 * byte-identical. A valid record is UTF-8 with every required field; a
 * malformed one is malformed the one way truth.csv says (GEN_BAD_*).
 */
#include "gen.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "km_time.h"
#include "km_util.h"

#define NELEM(a) GEN_NELEM(a)

static const double gen_sos[GEN_NCATS] = {0.02,  0.01,  0.02, 0.005, 0.03,
                                          0.005, 0.003, 0.5,  0.002};

/* ---- rendering one record ---------------------------------------------- */

void gen_rec_free(struct gen_rec *r)
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

void gen_rec_fill(struct gen_rec *r, const struct gen_dir *dir,
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
int gen_rec_json(struct gen_sb *out, const struct gen_rec *r,
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

void gen_rec_csv(struct gen_sb *out, const struct gen_rec *r,
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
