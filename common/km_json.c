/*
 * km_json.c - a JSON scanner with jansson's verdict, building no tree
 * (km_json.h).  What jansson 2.14's json_loadb(JSON_REJECT_DUPLICATES)
 * rejects, and this reproduces: invalid UTF-8 (overlong, surrogates,
 * above U+10FFFF), a control byte in a string, an unknown escape, a
 * \u escape that is not a whole surrogate pair or is \u0000, a number
 * that is not RFC 8259's, an integer outside long long, a real that
 * overflows a double, a duplicate member name, anything after the value.
 *
 * SECURITY: input is untrusted.  Every read is bounded by the end pointer,
 * the recursion by KM_JSON_MAXDEPTH; what it cannot decide exactly it
 * hands to jansson (KM_JSON_UNDECIDED), never guesses.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "km_json.h"

#define KM_JS_BAD (-1)

struct km_js {
        const char *s, *e;
        const struct km_json_want *want;
        int nwant;
        struct km_json_val *out;
        size_t wlen[KM_JSON_MAXKEYS]; /* strlen(want[i].name) */
};

/* Bytes that end a run of plain string bytes: control bytes, '"', '\\',
 * and every byte >= 0x80 (the start of a UTF-8 sequence, checked). */
static const unsigned char km_js_stop[256] = {
        [0 ... 0x1f] = 1,
        ['"'] = 1,
        ['\\'] = 1,
        [0x80 ... 0xff] = 1,
};

static inline void km_js_ws(struct km_js *st)
{
        while (st->s < st->e && (*st->s == ' ' || *st->s == '\n' ||
                                 *st->s == '\r' || *st->s == '\t'))
                st->s++;
}

static inline int km_js_hex(const char *p, unsigned *out)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                unsigned char c = (unsigned char)p[i];

                if (c >= '0' && c <= '9')
                        v = v * 16 + (c - '0');
                else if (c >= 'a' && c <= 'f')
                        v = v * 16 + (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        v = v * 16 + (c - 'A' + 10);
                else
                        return -1;
        }
        *out = v;
        return 0;
}

/* One multi-byte UTF-8 sequence at p (first byte >= 0x80): its length, or
 * 0 when jansson's utf8_check_first/utf8_check_full reject it. */
static inline size_t km_js_utf8(const unsigned char *p, const unsigned char *e)
{
        unsigned char u = p[0];
        size_t n;
        unsigned v;

        if (u >= 0xc2 && u <= 0xdf) {
                n = 2;
                v = u & 0x1f;
        } else if (u >= 0xe0 && u <= 0xef) {
                n = 3;
                v = u & 0x0f;
        } else if (u >= 0xf0 && u <= 0xf4) {
                n = 4;
                v = u & 0x07;
        } else {
                return 0;
        }
        if ((size_t)(e - p) < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
                v = (v << 6) | (p[i] & 0x3f);
        }
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ||
            (n == 3 && v < 0x800) || (n == 4 && v < 0x10000))
                return 0;
        return n;
}

/* A string at st->s ('"'): contents into v. */
static int km_js_string(struct km_js *st, struct km_json_val *v)
{
        const unsigned char *s = (const unsigned char *)st->s + 1;
        const unsigned char *e = (const unsigned char *)st->e;

        v->type = KM_JSON_STR;
        v->p = (const char *)s;
        v->esc = 0;
        for (;;) {
                /* the common case: plain ASCII */
                while (s < e && !km_js_stop[*s])
                        s++;
                if (s >= e || *s < 0x20)
                        return KM_JS_BAD;
                if (*s == '"')
                        break;
                if (*s >= 0x80) {
                        size_t n;

                        /* two bytes (Cyrillic): inline */
                        if (*s >= 0xc2 && *s <= 0xdf && e - s >= 2 &&
                            (s[1] & 0xc0) == 0x80) {
                                s += 2;
                                continue;
                        }
                        n = km_js_utf8(s, e);

                        if (n == 0)
                                return KM_JS_BAD;
                        s += n;
                        continue;
                }
                /* an escape */
                v->esc = 1;
                if (e - s < 2)
                        return KM_JS_BAD;
                if (s[1] != 'u') {
                        if (!strchr("\"\\/bfnrt", s[1]) || s[1] == '\0')
                                return KM_JS_BAD;
                        s += 2;
                        continue;
                }
                {
                        unsigned cp, lo;

                        if (e - s < 6 || km_js_hex((const char *)s + 2, &cp))
                                return KM_JS_BAD;
                        s += 6;
                        if (cp >= 0xd800 && cp <= 0xdbff) {
                                if (e - s < 6 || s[0] != '\\' || s[1] != 'u' ||
                                    km_js_hex((const char *)s + 2, &lo) ||
                                    lo < 0xdc00 || lo > 0xdfff)
                                        return KM_JS_BAD;
                                s += 6;
                        } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                                return KM_JS_BAD; /* \u0000: no JSON_ALLOW_NUL */
                        }
                }
        }
        v->len = (size_t)((const char *)s - v->p);
        st->s = (const char *)s + 1;
        return 0;
}

static int km_js_number(struct km_js *st, struct km_json_val *v)
{
        const char *s = st->s, *e = st->e, *d;
        int real = 0;

        v->p = s;
        if (s < e && *s == '-')
                s++;
        d = s;
        if (s < e && *s == '0') {
                s++;
        } else if (s < e && *s >= '1' && *s <= '9') {
                while (s < e && *s >= '0' && *s <= '9')
                        s++;
        } else {
                return KM_JS_BAD;
        }
        if (s < e && *s >= '0' && *s <= '9')
                return KM_JS_BAD; /* a leading zero */
        if (s < e && *s == '.') {
                real = 1;
                s++;
                if (s >= e || *s < '0' || *s > '9')
                        return KM_JS_BAD;
                while (s < e && *s >= '0' && *s <= '9')
                        s++;
        }
        if (s < e && (*s == 'e' || *s == 'E')) {
                real = 1;
                s++;
                if (s < e && (*s == '+' || *s == '-'))
                        s++;
                if (s >= e || *s < '0' || *s > '9')
                        return KM_JS_BAD;
                while (s < e && *s >= '0' && *s <= '9')
                        s++;
        }
        v->len = (size_t)(s - v->p);
        st->s = s;
        if (!real) {
                /* long long: 18 digits always fit, 20 never */
                size_t nd = (size_t)(s - d);
                char tmp[24];

                v->type = KM_JSON_INT;
                if (nd > 19)
                        return KM_JS_BAD;
                memcpy(tmp, v->p, v->len);
                tmp[v->len] = '\0';
                errno = 0;
                v->i = strtoll(tmp, NULL, 10);
                return errno == ERANGE ? KM_JS_BAD : 0;
        }
        v->type = KM_JSON_REAL;
        if (v->len >= KM_JSON_MAXNUM)
                return KM_JSON_UNDECIDED;
        {
                /* jansson rejects only an overflow (HUGE_VAL, ERANGE) */
                char tmp[KM_JSON_MAXNUM];
                double x;

                memcpy(tmp, v->p, v->len);
                tmp[v->len] = '\0';
                errno = 0;
                x = strtod(tmp, NULL);
                if (errno == ERANGE && (x == HUGE_VAL || x == -HUGE_VAL))
                        return KM_JS_BAD;
        }
        return 0;
}

static int km_js_value(struct km_js *st, int depth, int node,
                       struct km_json_val *v);

/* An object at st->s ('{'); node: the want index whose value it is (-1:
 * the top level; -2: nobody asked). */
static int km_js_object(struct km_js *st, int depth, int node)
{
        const char *kp[KM_JSON_MAXKEYS];
        size_t kl[KM_JSON_MAXKEYS];
        int nk = 0, r;

        if (depth > KM_JSON_MAXDEPTH)
                return KM_JSON_UNDECIDED;
        st->s++;
        km_js_ws(st);
        if (st->s < st->e && *st->s == '}') {
                st->s++;
                return 0;
        }
        for (;;) {
                struct km_json_val k, v;
                int w = -1, child = -2;

                if (st->s >= st->e || *st->s != '"')
                        return KM_JS_BAD;
                if ((r = km_js_string(st, &k)))
                        return r;
                km_js_ws(st);
                if (st->s >= st->e || *st->s != ':')
                        return KM_JS_BAD;
                st->s++;
                /* a name is compared as written: an escaped one (the same
                 * name may be written two ways) goes to jansson */
                if (k.esc || nk == KM_JSON_MAXKEYS)
                        return KM_JSON_UNDECIDED;
                for (int i = 0; i < nk; i++)
                        if (kl[i] == k.len && memcmp(kp[i], k.p, k.len) == 0)
                                return KM_JS_BAD;
                kp[nk] = k.p;
                kl[nk++] = k.len;
                if (node != -2)
                        for (int i = 0; i < st->nwant; i++)
                                if (st->want[i].parent == node &&
                                    st->wlen[i] == k.len &&
                                    memcmp(st->want[i].name, k.p, k.len) == 0) {
                                        w = i;
                                        child = i;
                                        break;
                                }
                if ((r = km_js_value(st, depth, child, &v)))
                        return r;
                if (w >= 0)
                        st->out[w] = v;
                km_js_ws(st);
                if (st->s < st->e && *st->s == ',') {
                        st->s++;
                        km_js_ws(st);
                        continue;
                }
                if (st->s < st->e && *st->s == '}') {
                        st->s++;
                        return 0;
                }
                return KM_JS_BAD;
        }
}

static int km_js_array(struct km_js *st, int depth)
{
        int r;

        if (depth > KM_JSON_MAXDEPTH)
                return KM_JSON_UNDECIDED;
        st->s++;
        km_js_ws(st);
        if (st->s < st->e && *st->s == ']') {
                st->s++;
                return 0;
        }
        for (;;) {
                struct km_json_val v;

                if ((r = km_js_value(st, depth, -2, &v)))
                        return r;
                km_js_ws(st);
                if (st->s < st->e && *st->s == ',') {
                        st->s++;
                        continue;
                }
                if (st->s < st->e && *st->s == ']') {
                        st->s++;
                        return 0;
                }
                return KM_JS_BAD;
        }
}

static int km_js_literal(struct km_js *st, const char *word, size_t n, int type,
                         struct km_json_val *v)
{
        const char *s = st->s;

        if ((size_t)(st->e - s) < n || memcmp(s, word, n) != 0)
                return KM_JS_BAD;
        v->type = type;
        v->p = s;
        v->len = n;
        st->s = s + n;
        return 0;
}

/* A value (after optional whitespace) at st->s. */
static int km_js_value(struct km_js *st, int depth, int node,
                       struct km_json_val *v)
{
        const char *start;
        int r;

        km_js_ws(st);
        memset(v, 0, sizeof(*v));
        if (st->s >= st->e)
                return KM_JS_BAD;
        start = st->s;
        switch (*st->s) {
        case '"':
                return km_js_string(st, v);
        case '{':
                if ((r = km_js_object(st, depth + 1, node)))
                        return r;
                v->type = KM_JSON_OBJ;
                break;
        case '[':
                if ((r = km_js_array(st, depth + 1)))
                        return r;
                v->type = KM_JSON_ARR;
                break;
        case 't':
                return km_js_literal(st, "true", 4, KM_JSON_TRUE, v);
        case 'f':
                return km_js_literal(st, "false", 5, KM_JSON_FALSE, v);
        case 'n':
                return km_js_literal(st, "null", 4, KM_JSON_NULL, v);
        default:
                return km_js_number(st, v);
        }
        v->p = start;
        v->len = (size_t)(st->s - start);
        return 0;
}

int km_json_scan(const char *buf, size_t len, const struct km_json_want *want,
                 int nwant, struct km_json_val *out)
{
        struct km_js st = {.s = buf,
                           .e = buf + len,
                           .want = want,
                           .nwant = nwant,
                           .out = out};
        struct km_json_val top;
        int r;

        if (nwant > KM_JSON_MAXKEYS)
                return KM_JSON_UNDECIDED;
        for (int i = 0; i < nwant; i++) {
                memset(&out[i], 0, sizeof(out[i]));
                st.wlen[i] = strlen(want[i].name);
        }
        if (buf == NULL)
                return KM_EINPUT;
        km_js_ws(&st);
        if (st.s >= st.e || *st.s != '{')
                return KM_EINPUT;
        r = km_js_value(&st, 0, -1, &top);
        if (r == 0) {
                km_js_ws(&st);
                if (st.s != st.e)
                        r = KM_JS_BAD;
        }
        if (r == KM_JSON_UNDECIDED)
                return r;
        /* a member of a rejected text is no answer */
        if (r)
                for (int i = 0; i < nwant; i++)
                        memset(&out[i], 0, sizeof(out[i]));
        return r ? KM_EINPUT : 0;
}

void km_json_str(const struct km_json_val *v, char *out, size_t *outlen)
{
        const char *p = v->p, *e = v->p + v->len;
        char *o = out;

        if (!v->esc) {
                memcpy(out, v->p, v->len);
                out[v->len] = '\0';
                *outlen = v->len;
                return;
        }
        while (p < e) {
                unsigned cp = 0, lo = 0xdc00;
                const char *q = memchr(p, '\\', (size_t)(e - p));
                size_t n = q ? (size_t)(q - p) : (size_t)(e - p);

                memcpy(o, p, n);
                o += n;
                p += n;
                if (p >= e)
                        break;
                p++; /* the scanner checked every escape */
                switch (*p) {
                case 'b':
                        *o++ = '\b';
                        p++;
                        continue;
                case 'f':
                        *o++ = '\f';
                        p++;
                        continue;
                case 'n':
                        *o++ = '\n';
                        p++;
                        continue;
                case 'r':
                        *o++ = '\r';
                        p++;
                        continue;
                case 't':
                        *o++ = '\t';
                        p++;
                        continue;
                case 'u':
                        break;
                default:
                        *o++ = *p++;
                        continue;
                }
                (void)km_js_hex(p + 1, &cp);
                p += 5;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                        (void)km_js_hex(p + 2, &lo);
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                }
                if (cp < 0x80) {
                        *o++ = (char)cp;
                } else if (cp < 0x800) {
                        *o++ = (char)(0xc0 | (cp >> 6));
                        *o++ = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                        *o++ = (char)(0xe0 | (cp >> 12));
                        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                        *o++ = (char)(0x80 | (cp & 0x3f));
                } else {
                        *o++ = (char)(0xf0 | (cp >> 18));
                        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
                        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
                        *o++ = (char)(0x80 | (cp & 0x3f));
                }
        }
        *o = '\0';
        *outlen = (size_t)(o - out);
}

/* --- the reference: jansson's tree ------------------------------------ */

static int km_js_type(const json_t *v)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return KM_JSON_OBJ;
        case JSON_ARRAY:
                return KM_JSON_ARR;
        case JSON_STRING:
                return KM_JSON_STR;
        case JSON_INTEGER:
                return KM_JSON_INT;
        case JSON_REAL:
                return KM_JSON_REAL;
        case JSON_TRUE:
                return KM_JSON_TRUE;
        case JSON_FALSE:
                return KM_JSON_FALSE;
        default:
                return KM_JSON_NULL;
        }
}

/* want[i]'s node in root (NULL: absent), its parents first; depth bounds
 * a want list whose parents loop. */
static json_t *km_js_ref_node(json_t *root, const struct km_json_want *want,
                              int nwant, int i, int depth)
{
        json_t *o = root;

        if (depth > nwant)
                return NULL;
        if (want[i].parent >= 0 && want[i].parent < nwant)
                o = km_js_ref_node(root, want, nwant, want[i].parent,
                                   depth + 1);
        return json_is_object(o) ? json_object_get(o, want[i].name) : NULL;
}

int km_json_scan_ref(const char *buf, size_t len,
                     const struct km_json_want *want, int nwant,
                     struct km_json_val *out, json_t **tree)
{
        json_t *root = NULL;

        *tree = NULL;
        if (buf != NULL && len > 0 && memchr(buf, '\0', len) == NULL)
                root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(root)) {
                json_decref(root);
                return KM_EINPUT;
        }
        for (int i = 0; i < nwant; i++) {
                json_t *v = km_js_ref_node(root, want, nwant, i, 0);

                memset(&out[i], 0, sizeof(out[i]));
                if (v == NULL)
                        continue;
                out[i].type = km_js_type(v);
                if (out[i].type == KM_JSON_STR) {
                        out[i].p = json_string_value(v);
                        out[i].len = json_string_length(v);
                } else if (out[i].type == KM_JSON_INT) {
                        out[i].i = (long long)json_integer_value(v);
                }
        }
        *tree = root;
        return 0;
}
