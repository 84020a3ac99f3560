/*
 * km_addr.c - see km_addr.h.
 *
 * SECURITY: reads residents' free text.  Every write is bounded by the
 * output size; invalid UTF-8 bytes become separators; no allocation.
 *
 * Pipeline: text -> Latin lower-case token string (km_addr_latin) ->
 * tokens -> per-word spelling folds (km_addr_fold) -> classification
 * (city, street type, house/apartment/district markers, numbers, words).
 */
#include "km_addr.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define KM_ADDR_MAXTOK 48
#define KM_ADDR_TOKLEN 64

/* Decode one code point; an invalid byte decodes as U+FFFD, 1 byte. */
static const char *km_addr_decode(const char *p, uint32_t *cp)
{
        const unsigned char *s = (const unsigned char *)p;

        if (s[0] < 0x80) {
                *cp = s[0];
                return p + 1;
        }
        if ((s[0] & 0xe0) == 0xc0 && (s[1] & 0xc0) == 0x80) {
                *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
                return p + 2;
        }
        if ((s[0] & 0xf0) == 0xe0 && (s[1] & 0xc0) == 0x80 &&
            (s[2] & 0xc0) == 0x80) {
                *cp = ((uint32_t)(s[0] & 0x0f) << 12) |
                      ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
                return p + 3;
        }
        if ((s[0] & 0xf8) == 0xf0 && (s[1] & 0xc0) == 0x80 &&
            (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80) {
                *cp = 0xfffd;
                return p + 4;
        }
        *cp = 0xfffd;
        return p + 1;
}

/* Latin spelling of a (lower-cased) code point; NULL: a separator. */
static const char *km_addr_translit(uint32_t cp)
{
        static const char *const ru[32] = {
                "a",  "b",  "v",  "g",    "d", "e", "zh", "z", "i",  "y", "k",
                "l",  "m",  "n",  "o",    "p", "r", "s",  "t", "u",  "f", "kh",
                "ts", "ch", "sh", "shch", "",  "y", "",   "e", "yu", "ya"};
        static char ascii[128][2];

        if (cp < 128) {
                if (ascii['a'][0] == 0)
                        for (int c = 0; c < 128; c++)
                                ascii[c][0] = (char)c;
                if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') ||
                    cp == '/' || cp == '-')
                        return ascii[cp];
                if (cp >= 'A' && cp <= 'Z')
                        return ascii[cp + 32];
                return NULL;
        }
        if (cp >= 0x410 && cp <= 0x42f)
                cp += 0x20;
        if (cp >= 0x400 && cp <= 0x40f)
                cp += 0x50;
        if (cp >= 0x430 && cp <= 0x44f)
                return ru[cp - 0x430];
        switch (cp) {
        case 0x451: /* ё */
        case 0x454: /* є */
                return "e";
        case 0x456:
        case 0x406: /* і */
        case 0x457:
        case 0x131: /* ї, ı */
                return "i";
        case 0x4d8:
        case 0x4d9: /* ә */
        case 0xe4:
        case 0xc4:
        case 0x259:
        case 0x18f: /* ä ə */
        case 0xe1:
        case 0xe0:
        case 0xe2:
        case 0x101:
                return "a";
        case 0x492:
        case 0x493: /* ғ */
        case 0x11f:
        case 0x11e: /* ğ */
                return "g";
        case 0x49a:
        case 0x49b: /* қ */
                return "k";
        case 0x4a2:
        case 0x4a3: /* ң */
        case 0xf1:
        case 0xd1: /* ñ */
                return "n";
        case 0x4e8:
        case 0x4e9: /* ө */
        case 0xf6:
        case 0xd6:
        case 0xf3:
        case 0xf4:
                return "o";
        case 0x4b0:
        case 0x4b1: /* ұ */
        case 0x4ae:
        case 0x4af: /* ү */
        case 0xfc:
        case 0xdc:
        case 0x16b:
        case 0x16a:
        case 0xfa:
                return "u";
        case 0x4ba:
        case 0x4bb: /* һ */
                return "h";
        case 0x15f:
        case 0x15e: /* ş */
                return "sh";
        case 0xe7:
        case 0xc7: /* ç */
                return "ch";
        case 0xe9:
        case 0xe8:
        case 0xea:
                return "e";
        case 0xed:
        case 0xee:
                return "i";
        case 0x2116: /* № */
                return NULL;
        default:
                return NULL;
        }
}

static int km_addr_isdigit(char c)
{
        return c >= '0' && c <= '9';
}
static int km_addr_isalpha(char c)
{
        return c >= 'a' && c <= 'z';
}

/* Text -> lower-case Latin, tokens separated by single spaces; a letter
 * followed by a digit is split ("kv45" -> "kv 45"). */
static void km_addr_latin(const char *in, char *out, size_t outlen)
{
        size_t n = 0;
        const char *p = in ? in : "";
        int word = 0; /* the current token starts with a letter */

        if (outlen == 0)
                return;
        while (*p) {
                uint32_t cp;
                const char *lat;

                p = km_addr_decode(p, &cp);
                lat = km_addr_translit(cp);
                if (lat == NULL) {
                        if (n > 0 && out[n - 1] != ' ' && n + 1 < outlen)
                                out[n++] = ' ';
                        continue;
                }
                if (lat[0] == '\0')
                        continue;
                if (n == 0 || out[n - 1] == ' ')
                        word = km_addr_isalpha(lat[0]);
                /* "kv45" -> "kv 45", but "22k1" stays (a house) */
                if (word && km_addr_isdigit(lat[0]) && n > 0 &&
                    km_addr_isalpha(out[n - 1]) && n + 1 < outlen) {
                        out[n++] = ' ';
                        word = 0;
                }
                for (; *lat && n + 1 < outlen; lat++)
                        out[n++] = *lat;
        }
        while (n > 0 && out[n - 1] == ' ')
                n--;
        out[n] = '\0';
}

/* Spelling folds of one word, in place. */
static void km_addr_fold(char *w)
{
        char tmp[KM_ADDR_TOKLEN];
        size_t n = 0, i = 0, len = strlen(w);

        while (i < len && n + 1 < sizeof(tmp)) {
                if (!strncmp(w + i, "shch", 4)) {
                        tmp[n++] = 's';
                        tmp[n++] = 'h';
                        i += 4;
                        continue;
                }
                if (!strncmp(w + i, "kh", 2)) {
                        tmp[n++] = 'h';
                        i += 2;
                        continue;
                }
                if (!strncmp(w + i, "ts", 2)) {
                        tmp[n++] = 'c';
                        i += 2;
                        continue;
                }
                switch (w[i]) {
                case 'y':
                        tmp[n++] = 'i';
                        break;
                case 'q':
                        tmp[n++] = 'k';
                        break;
                case 'w':
                        tmp[n++] = 'v';
                        break;
                case 'x':
                        tmp[n++] = 'k';
                        if (n + 1 < sizeof(tmp))
                                tmp[n++] = 's';
                        break;
                default:
                        tmp[n++] = w[i];
                        break;
                }
                i++;
        }
        /* "Yesil", "Yerlan": a word-initial ye is e */
        if (n >= 2 && tmp[0] == 'i' && tmp[1] == 'e' && w[0] == 'y') {
                memmove(tmp, tmp + 1, n - 1);
                n--;
        }
        /* doubled letters once */
        len = 0;
        for (i = 0; i < n; i++)
                if (len == 0 || tmp[i] != w[len - 1] ||
                    !km_addr_isalpha(tmp[i]))
                        w[len++] = tmp[i];
        /* trailing vowels (case endings: Манаса/Манас, Абая/Абай) */
        while (len > 3 && strchr("aeiou", w[len - 1]))
                len--;
        w[len] = '\0';
}

static int km_addr_in(const char *w, const char *const *list)
{
        for (; *list; list++)
                if (strcmp(w, *list) == 0)
                        return 1;
        return 0;
}

/* Word classes, on folded words. */
static const char *const km_addr_types[] = {
        "ul",    "ulic",     "prospekt", "prosp",   "pr",   "pr-t",
        "prt",   "pr-kt",    "pt",       "koshes",  "kosh", "dangil",
        "dang",  "pereulok", "per",      "bulvar",  "b-r",  "bul",
        "bulv",  "sh",       "shos",     "ploshad", "pl",   "mikroraion",
        "mkr",   "m-n",      "tupik",    "tuik",    "tas",  "zhol",
        "stret", "st",       "aven",     "av",      NULL};
static const char *const km_addr_city[] = {
        "g",   "gor",   "gorod",     "astan", "nur-sultan", "nursultan",
        "kal", "kalas", "kazahstan", "rk",    "city",       NULL};
static const char *const km_addr_house_words[] = {"d",    "dom", "ui", "h",
                                                  "hous", "no",  "nr", NULL};
static const char *const km_addr_apt_words[] = {
        "kv", "kvartir", "pater",    "apt",  "ap", "ofis",
        "of", "pom",     "pomeshen", "flat", NULL};
static const char *const km_addr_corpus_words[] = {"korp", "korpus", "k", "kor",
                                                   NULL};
static const char *const km_addr_skip_words[] = {
        "blok",  "str", "stroen",  "podezd", "pod", "etaj",
        "etazh", "et",  "entranc", "floor",  NULL};
static const char *const km_addr_district_words[] = {
        "raion", "r-n", "rn", "audan", "audani", "district", NULL};

/* Append word to a space-separated key. */
static void km_addr_append(char *key, size_t keylen, const char *w)
{
        size_t n = strlen(key), wl = strlen(w);

        if (wl == 0 || n + wl + 2 > keylen)
                return;
        if (n > 0)
                key[n++] = ' ';
        memcpy(key + n, w, wl + 1);
}

static size_t km_addr_house_latin(const char *lat, char *out, size_t outlen);

/* House key from a number token and an optional single-letter suffix
 * ("33-16": house 33, apartment 16). */
static void km_addr_house_from(const char *num, const char *suffix, char *out,
                               size_t outlen)
{
        char buf[KM_ADDR_TOKLEN + 4];

        snprintf(buf, sizeof(buf), "%s%s%s", num, suffix ? " " : "",
                 suffix ? suffix : "");
        km_addr_house_latin(buf, out, outlen);
}

/* "e-11", "a-62": a numbered street (Астана's Е-11), one word. */
static int km_addr_letter_number(const char *t)
{
        size_t i = 0;

        while (km_addr_isalpha(t[i]))
                i++;
        if (i == 0 || i > 2 || t[i] != '-' || !km_addr_isdigit(t[i + 1]))
                return 0;
        for (i++; t[i]; i++)
                if (!km_addr_isdigit(t[i]))
                        return 0;
        return 1;
}

/* Tokenise the Latin text in place; hyphenated words split unless the
 * whole token is a known abbreviation (пр-т, р-н, б-р). */
static int km_addr_tokens(char *lat, char **tok, int max)
{
        int n = 0;
        char *save = NULL;

        for (char *t = strtok_r(lat, " ", &save); t && n < max;
             t = strtok_r(NULL, " ", &save)) {
                char *h;

                if (strlen(t) >= KM_ADDR_TOKLEN)
                        t[KM_ADDR_TOKLEN - 1] = '\0';
                if (km_addr_isdigit(t[0]) || strchr(t, '-') == NULL ||
                    km_addr_letter_number(t) || km_addr_in(t, km_addr_types) ||
                    km_addr_in(t, km_addr_district_words) ||
                    km_addr_in(t, km_addr_city)) {
                        tok[n++] = t;
                        continue;
                }
                while ((h = strchr(t, '-')) != NULL && n < max) {
                        *h = '\0';
                        if (*t)
                                tok[n++] = t;
                        t = h + 1;
                }
                if (*t && n < max)
                        tok[n++] = t;
        }
        return n;
}

enum km_addr_expect {
        KM_AX_NONE,
        KM_AX_HOUSE,
        KM_AX_APT,
        KM_AX_SKIP,
        KM_AX_DISTRICT,
        KM_AX_CORPUS
};

void km_addr_parse_text(const char *text, struct km_addr *out)
{
        char lat[1024], *tok[KM_ADDR_MAXTOK];
        char last_word[KM_ADDR_TOKLEN] = "";
        enum km_addr_expect expect = KM_AX_NONE;
        int ntok, last_was_word = 0;
        size_t street_before_last = 0;

        memset(out, 0, sizeof(*out));
        km_addr_latin(text, lat, sizeof(lat));
        ntok = km_addr_tokens(lat, tok, KM_ADDR_MAXTOK);
        for (int i = 0; i < ntok; i++) {
                char w[KM_ADDR_TOKLEN];

                if (km_addr_isdigit(tok[i][0])) {
                        char *num = tok[i];

                        last_was_word = 0;
                        if (expect == KM_AX_CORPUS && out->house[0] &&
                            !strchr(out->house, '/')) {
                                char hb[40];

                                snprintf(hb, sizeof(hb), "%s/%s", out->house,
                                         num);
                                km_addr_house_latin(hb, out->house,
                                                    sizeof(out->house));
                                expect = KM_AX_NONE;
                                continue;
                        }
                        if (expect == KM_AX_APT || expect == KM_AX_SKIP ||
                            out->house[0]) {
                                expect = KM_AX_NONE;
                                continue;
                        }
                        expect = KM_AX_NONE;
                        {
                                const char *suffix = NULL;

                                /* "12 а": a lone letter right after */
                                if (i + 1 < ntok && strlen(tok[i + 1]) == 1 &&
                                    km_addr_isalpha(tok[i + 1][0]) &&
                                    !km_addr_isalpha(num[strlen(num) - 1]) &&
                                    strcmp(tok[i + 1], "k") != 0 &&
                                    strcmp(tok[i + 1], "d") != 0 &&
                                    strcmp(tok[i + 1], "g") != 0) {
                                        suffix = tok[i + 1];
                                        i++;
                                }
                                km_addr_house_from(num, suffix, out->house,
                                                   sizeof(out->house));
                        }
                        continue;
                }
                snprintf(w, sizeof(w), "%s", tok[i]);
                km_addr_fold(w);
                if (w[0] == '\0')
                        continue;
                if (km_addr_in(w, km_addr_district_words)) {
                        /* "Есиль р-н": the word before; "р-н Есиль": after */
                        if (last_was_word && out->district[0] == '\0') {
                                snprintf(out->district, sizeof(out->district),
                                         "%s", last_word);
                                out->street[street_before_last] = '\0';
                                expect = KM_AX_NONE;
                        } else {
                                expect = KM_AX_DISTRICT;
                        }
                        last_was_word = 0;
                        continue;
                }
                last_was_word = 0;
                if (km_addr_in(w, km_addr_city) || km_addr_in(w, km_addr_types))
                        continue;
                if (km_addr_in(w, km_addr_house_words)) {
                        expect = KM_AX_HOUSE;
                        continue;
                }
                if (km_addr_in(w, km_addr_apt_words)) {
                        expect = KM_AX_APT;
                        continue;
                }
                if (km_addr_in(w, km_addr_corpus_words)) {
                        expect = KM_AX_CORPUS;
                        continue;
                }
                if (km_addr_in(w, km_addr_skip_words)) {
                        expect = KM_AX_SKIP;
                        continue;
                }
                if (expect == KM_AX_DISTRICT) {
                        snprintf(out->district, sizeof(out->district), "%s", w);
                        expect = KM_AX_NONE;
                        continue;
                }
                expect = KM_AX_NONE;
                if (strlen(tok[i]) == 1) /* initials, stray letters */
                        continue;
                street_before_last = strlen(out->street);
                km_addr_append(out->street, sizeof(out->street), w);
                snprintf(last_word, sizeof(last_word), "%s", w);
                last_was_word = 1;
        }
}

size_t km_addr_street_key(const char *street, char *out, size_t outlen)
{
        struct km_addr a;

        km_addr_parse_text(street, &a);
        snprintf(out, outlen, "%s", a.street);
        return strlen(out);
}

size_t km_addr_house_key(const char *house, char *out, size_t outlen)
{
        char lat[128];

        km_addr_latin(house, lat, sizeof(lat));
        return km_addr_house_latin(lat, out, outlen);
}

static int km_addr_corpus_word(const char *p, size_t k)
{
        return (k == 1 && p[0] == 'k') || (k == 3 && !strncmp(p, "kor", 3)) ||
               (k == 4 && !strncmp(p, "korp", 4)) ||
               (k == 6 && !strncmp(p, "korpus", 6));
}

/* Digits, up to two letters ("12a"), "/digits" ("24/1"), a corpus
 * ("22к1", "35 корп. 1": "/1", as the directory writes it); stops at
 * anything else ("33-16": 16 is the apartment; "12 кв 4"). */
static size_t km_addr_house_latin(const char *lat, char *out, size_t outlen)
{
        const char *p = lat;
        size_t n = 0;
        int slash = 0;

        if (outlen == 0)
                return 0;
        while (*p && !km_addr_isdigit(*p))
                p++;
        while (*p && n + 1 < outlen) {
                const char *q = p;
                size_t k = 0;

                if (km_addr_isdigit(*p)) {
                        out[n++] = *p++;
                        continue;
                }
                if (*p == '/' && km_addr_isdigit(p[1]) && !slash) {
                        slash = 1;
                        out[n++] = *p++;
                        continue;
                }
                if (*p == ' ' || *p == '-')
                        q++;
                while (km_addr_isalpha(q[k]))
                        k++;
                if (k == 0)
                        break;
                if (km_addr_corpus_word(q, k)) {
                        const char *d = q + k;

                        while (*d == ' ')
                                d++;
                        if (km_addr_isdigit(*d) && !slash && n + 1 < outlen) {
                                slash = 1;
                                out[n++] = '/';
                                p = d;
                                continue;
                        }
                }
                /* a letter suffix: one or two letters right after digits */
                if (k > 2 || n == 0 || !km_addr_isdigit(out[n - 1]) ||
                    (q[k] != '\0' && q[k] != ' ' && !km_addr_isdigit(q[k])) ||
                    (k == 2 && p != q))
                        break;
                p = q;
                while (k-- > 0 && n + 1 < outlen)
                        out[n++] = *p++;
        }
        out[n] = '\0';
        return n;
}

size_t km_addr_district_key(const char *district, char *out, size_t outlen)
{
        struct km_addr a;

        km_addr_parse_text(district, &a);
        snprintf(out, outlen, "%s", a.district[0] ? a.district : a.street);
        return strlen(out);
}

int km_addr_distance(const char *a, const char *b, int max)
{
        int la = (int)strlen(a), lb = (int)strlen(b);
        int row[KM_ADDR_KEY_LEN + 1];

        if (la > KM_ADDR_KEY_LEN || lb > KM_ADDR_KEY_LEN)
                return max + 1;
        if (la - lb > max || lb - la > max)
                return max + 1;
        for (int j = 0; j <= lb; j++)
                row[j] = j;
        for (int i = 1; i <= la; i++) {
                int diag = row[0], best;

                row[0] = i;
                best = row[0];
                for (int j = 1; j <= lb; j++) {
                        int up = row[j];
                        int v = diag + (a[i - 1] != b[j - 1]);

                        if (up + 1 < v)
                                v = up + 1;
                        if (row[j - 1] + 1 < v)
                                v = row[j - 1] + 1;
                        row[j] = v;
                        diag = up;
                        if (v < best)
                                best = v;
                }
                if (best > max)
                        return max + 1;
        }
        return row[lb] > max ? max + 1 : row[lb];
}
