/*
 * gen_text.c - komek-gen's UTF-8 helpers: decoding and encoding, case
 * (Russian and Kazakh Cyrillic), ё/е, Latin transliteration, counting
 * characters, and the typing noise (case, a doubled space, a stray comma)
 * with which gen_addr.c and gen_rec.c spell addresses the ways residents
 * do. Names are in gen_text_names.c, descriptions in gen_text_desc.c.
 *
 * Contract: valid UTF-8 in, valid UTF-8 out; an invalid byte decodes as
 * '?'. Only two- and three-byte sequences occur (Cyrillic), so only those
 * are decoded and encoded.
 */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

/* ---- UTF-8, case, transliteration ------------------------------------- */

const char *gen_text_decode(const char *p, uint32_t *cp)
{
        const unsigned char *s = (const unsigned char *)p;

        if (s[0] < 0x80) {
                *cp = s[0];
                return p + 1;
        }
        if ((s[0] & 0xe0) == 0xc0 && s[1]) {
                *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
                return p + 2;
        }
        if ((s[0] & 0xf0) == 0xe0 && s[1] && s[2]) {
                *cp = ((uint32_t)(s[0] & 0x0f) << 12) |
                      ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
                return p + 3;
        }
        *cp = '?';
        return p + 1;
}

static void gen_text_encode(struct gen_sb *sb, uint32_t cp)
{
        char b[3];

        if (cp < 0x80) {
                gen_sb_putc(sb, (char)cp);
        } else if (cp < 0x800) {
                b[0] = (char)(0xc0 | (cp >> 6));
                b[1] = (char)(0x80 | (cp & 0x3f));
                gen_sb_putn(sb, b, 2);
        } else {
                b[0] = (char)(0xe0 | (cp >> 12));
                b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                b[2] = (char)(0x80 | (cp & 0x3f));
                gen_sb_putn(sb, b, 3);
        }
}

/* Kazakh letters outside the Russian block come in upper/lower pairs. */
static bool gen_text_kz_pair(uint32_t cp)
{
        return (cp >= 0x492 && cp <= 0x4bb) || (cp >= 0x4d8 && cp <= 0x4e9);
}

static uint32_t gen_text_lower(uint32_t cp)
{
        if (cp >= 'A' && cp <= 'Z')
                return cp + 32;
        if (cp >= 0x410 && cp <= 0x42f)
                return cp + 0x20;
        if (cp >= 0x400 && cp <= 0x40f)
                return cp + 0x50;
        if (gen_text_kz_pair(cp) && !(cp & 1))
                return cp + 1;
        return cp;
}

uint32_t gen_text_upper(uint32_t cp)
{
        if (cp >= 'a' && cp <= 'z')
                return cp - 32;
        if (cp >= 0x430 && cp <= 0x44f)
                return cp - 0x20;
        if (cp >= 0x450 && cp <= 0x45f)
                return cp - 0x50;
        if (gen_text_kz_pair(cp) && (cp & 1))
                return cp - 1;
        return cp;
}

/**
 * @brief Rewrite @p sb in place. @p mode: 'l' lower case, 'u' upper case,
 * 'e' ё -> е, 'f' lower the first letter unless it starts an acronym.
 */
void gen_text_case(struct gen_sb *sb, int mode)
{
        char *copy = gen_xstrdup(sb->buf ? sb->buf : "");
        const char *p = copy;
        bool first = true;

        gen_sb_reset(sb);
        while (*p) {
                uint32_t cp;

                p = gen_text_decode(p, &cp);
                if (mode == 'l')
                        cp = gen_text_lower(cp);
                else if (mode == 'u')
                        cp = gen_text_upper(cp);
                else if (mode == 'e' && (cp == 0x451 || cp == 0x401))
                        cp = cp == 0x451 ? 0x435 : 0x415;
                else if (mode == 'f' && first) {
                        uint32_t next;

                        gen_text_decode(p, &next);
                        if (gen_text_lower(next) == next)
                                cp = gen_text_lower(cp);
                }
                first = false;
                gen_text_encode(sb, cp);
        }
        free(copy);
}

static const char *gen_text_latin(uint32_t cp)
{
        static const char *const ru[] = {
                "a",  "b",  "v",  "g",    "d", "e", "zh", "z", "i",  "y", "k",
                "l",  "m",  "n",  "o",    "p", "r", "s",  "t", "u",  "f", "kh",
                "ts", "ch", "sh", "shch", "",  "y", "",   "e", "yu", "ya"};

        cp = gen_text_lower(cp);
        if (cp >= 0x430 && cp <= 0x44f)
                return ru[cp - 0x430];
        switch (cp) {
        case 0x451:
                return "e";
        case 0x456:
                return "i";
        case 0x4d9:
                return "a";
        case 0x493:
                return "g";
        case 0x49b:
                return "k";
        case 0x4a3:
                return "n";
        case 0x4e9:
                return "o";
        case 0x4b1:
                return "u";
        case 0x4af:
                return "u";
        case 0x4bb:
                return "h";
        default:
                return NULL;
        }
}

/** @brief Append @p s transliterated to Latin, keeping capitals. */
void gen_text_translit(struct gen_sb *sb, const char *s)
{
        while (*s) {
                uint32_t cp;
                const char *next = gen_text_decode(s, &cp);
                const char *lat = gen_text_latin(cp);

                if (!lat) {
                        gen_sb_putn(sb, s, (size_t)(next - s));
                } else if (*lat && gen_text_lower(cp) != cp) {
                        gen_sb_putc(sb, (char)(lat[0] - 32));
                        gen_sb_puts(sb, lat + 1);
                } else {
                        gen_sb_puts(sb, lat);
                }
                s = next;
        }
}

/** @returns the length of @p s in characters (UTF-8 code points). */
size_t gen_text_chars(const char *s)
{
        size_t n = 0;

        for (; *s; s++)
                n += ((unsigned char)*s & 0xc0) != 0x80;
        return n;
}

/* ---- typing noise ----------------------------------------------------- */

void gen_text_noise(struct gen_sb *sb, struct gen_rng *rng)
{
        double r = gen_rng_unit(rng);
        char *sp;

        if (r < 0.12)
                gen_text_case(sb, 'l');
        else if (r < 0.17)
                gen_text_case(sb, 'u');
        if (gen_rng_chance(rng, 0.08) && (sp = strchr(sb->buf, ' '))) {
                size_t at = (size_t)(sp - sb->buf);
                char *copy = gen_xstrdup(sb->buf);

                gen_sb_reset(sb);
                gen_sb_putn(sb, copy, at);
                gen_sb_puts(sb, "  ");
                gen_sb_puts(sb, copy + at + 1);
                free(copy);
        }
        r = gen_rng_unit(rng);
        if (r < 0.03)
                gen_sb_putc(sb, ' ');
        else if (r < 0.05)
                gen_sb_putc(sb, r < 0.04 ? ',' : '.');
}
