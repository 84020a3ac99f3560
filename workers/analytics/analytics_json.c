/*
 * analytics_json.c - a validating JSON scanner that builds no tree: it
 * checks one JSON text against RFC 8259 (strings, numbers, literals,
 * nesting up to AN_J_MAXDEPTH, nothing after the value) and captures the
 * members of the top-level object whose names are asked for.  komek-
 * analytics reads a handful of fields per message; building a jansson tree
 * of the whole message cost more than writing the row to PostgreSQL.
 *
 * SECURITY: input is untrusted.  The caller checks UTF-8 first
 * (km_utf8_valid over the whole buffer); every read here is bounded by the
 * end pointer; depth is bounded; a duplicate asked-for member is an error
 * (as jansson's JSON_REJECT_DUPLICATES).  Captured strings point into the
 * buffer, still escaped; analytics_json_str() decodes one.
 */
#include <stdio.h>
#include <string.h>

#include "analytics.h"

#define AN_J_MAXDEPTH 32

struct an_jscan {
        const char *s, *e;
        int depth;
        const char *err;
};

static void an_ws(struct an_jscan *sc)
{
        while (sc->s < sc->e && (*sc->s == ' ' || *sc->s == '\t' ||
                                 *sc->s == '\n' || *sc->s == '\r'))
                sc->s++;
}

static int an_fail(struct an_jscan *sc, const char *what)
{
        if (sc->err == NULL)
                sc->err = what;
        return -1;
}

static int an_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
               (c >= 'A' && c <= 'F');
}

/* A string at sc->s ('"'); its contents (escaped) into *p, *len. */
static int an_jstr(struct an_jscan *sc, const char **p, size_t *len, int *esc)
{
        sc->s++;
        *p = sc->s;
        *esc = 0;
        while (sc->s < sc->e && *sc->s != '"') {
                unsigned char c = (unsigned char)*sc->s;

                if (c < 0x20)
                        return an_fail(sc, "control character in a string");
                if (c == '\\') {
                        *esc = 1;
                        if (sc->e - sc->s < 2)
                                return an_fail(sc, "unterminated escape");
                        c = (unsigned char)sc->s[1];
                        if (c == 'u') {
                                if (sc->e - sc->s < 6 || !an_hex(sc->s[2]) ||
                                    !an_hex(sc->s[3]) || !an_hex(sc->s[4]) ||
                                    !an_hex(sc->s[5]))
                                        return an_fail(sc, "bad \\u escape");
                                sc->s += 6;
                                continue;
                        }
                        if (!strchr("\"\\/bfnrt", c) || c == '\0')
                                return an_fail(sc, "bad escape");
                        sc->s += 2;
                        continue;
                }
                sc->s++;
        }
        if (sc->s >= sc->e)
                return an_fail(sc, "unterminated string");
        *len = (size_t)(sc->s - *p);
        sc->s++;
        return 0;
}

static int an_jnum(struct an_jscan *sc)
{
        const char *s = sc->s;

        if (s < sc->e && *s == '-')
                s++;
        if (s < sc->e && *s == '0') {
                s++;
        } else if (s < sc->e && *s >= '1' && *s <= '9') {
                while (s < sc->e && *s >= '0' && *s <= '9')
                        s++;
        } else {
                return an_fail(sc, "bad number");
        }
        if (s < sc->e && *s == '.') {
                s++;
                if (s >= sc->e || *s < '0' || *s > '9')
                        return an_fail(sc, "bad number");
                while (s < sc->e && *s >= '0' && *s <= '9')
                        s++;
        }
        if (s < sc->e && (*s == 'e' || *s == 'E')) {
                s++;
                if (s < sc->e && (*s == '+' || *s == '-'))
                        s++;
                if (s >= sc->e || *s < '0' || *s > '9')
                        return an_fail(sc, "bad number");
                while (s < sc->e && *s >= '0' && *s <= '9')
                        s++;
        }
        sc->s = s;
        return 0;
}

static int an_jvalue(struct an_jscan *sc, struct an_jv *v);

static int an_jlit(struct an_jscan *sc, const char *lit, int type,
                   struct an_jv *v)
{
        size_t n = strlen(lit);

        if ((size_t)(sc->e - sc->s) < n || memcmp(sc->s, lit, n) != 0)
                return an_fail(sc, "bad literal");
        v->type = type;
        v->p = sc->s;
        v->len = n;
        sc->s += n;
        return 0;
}

/* An object at sc->s; with names (NULL-able), the members asked for. */
static int an_jobj(struct an_jscan *sc, const char *const *names,
                   struct an_jv *out, int n)
{
        if (++sc->depth > AN_J_MAXDEPTH)
                return an_fail(sc, "nested too deep");
        sc->s++;
        an_ws(sc);
        if (sc->s < sc->e && *sc->s == '}') {
                sc->s++;
                sc->depth--;
                return 0;
        }
        for (;;) {
                const char *k;
                size_t klen;
                int esc;
                struct an_jv v;

                an_ws(sc);
                if (sc->s >= sc->e || *sc->s != '"')
                        return an_fail(sc, "expected a member name");
                if (an_jstr(sc, &k, &klen, &esc))
                        return -1;
                an_ws(sc);
                if (sc->s >= sc->e || *sc->s != ':')
                        return an_fail(sc, "expected ':'");
                sc->s++;
                if (an_jvalue(sc, &v))
                        return -1;
                for (int i = 0; names && i < n; i++) {
                        char key[72];
                        struct an_jv kv = {AN_J_STR, k, klen, esc};

                        if (analytics_json_str(&kv, key, sizeof(key)) ||
                            strcmp(key, names[i]) != 0)
                                continue;
                        if (out[i].type != AN_J_NONE)
                                return an_fail(sc, "duplicate member");
                        out[i] = v;
                }
                an_ws(sc);
                if (sc->s < sc->e && *sc->s == ',') {
                        sc->s++;
                        continue;
                }
                if (sc->s < sc->e && *sc->s == '}') {
                        sc->s++;
                        sc->depth--;
                        return 0;
                }
                return an_fail(sc, "expected ',' or '}'");
        }
}

static int an_jarr(struct an_jscan *sc)
{
        if (++sc->depth > AN_J_MAXDEPTH)
                return an_fail(sc, "nested too deep");
        sc->s++;
        an_ws(sc);
        if (sc->s < sc->e && *sc->s == ']') {
                sc->s++;
                sc->depth--;
                return 0;
        }
        for (;;) {
                struct an_jv v;

                if (an_jvalue(sc, &v))
                        return -1;
                an_ws(sc);
                if (sc->s < sc->e && *sc->s == ',') {
                        sc->s++;
                        continue;
                }
                if (sc->s < sc->e && *sc->s == ']') {
                        sc->s++;
                        sc->depth--;
                        return 0;
                }
                return an_fail(sc, "expected ',' or ']'");
        }
}

static int an_jvalue(struct an_jscan *sc, struct an_jv *v)
{
        const char *start;

        an_ws(sc);
        if (sc->s >= sc->e)
                return an_fail(sc, "expected a value");
        start = sc->s;
        memset(v, 0, sizeof(*v));
        switch (*sc->s) {
        case '{':
                if (an_jobj(sc, NULL, NULL, 0))
                        return -1;
                v->type = AN_J_OBJ;
                break;
        case '[':
                if (an_jarr(sc))
                        return -1;
                v->type = AN_J_ARR;
                break;
        case '"':
                v->type = AN_J_STR;
                return an_jstr(sc, &v->p, &v->len, &v->esc);
        case 't':
                return an_jlit(sc, "true", AN_J_TRUE, v);
        case 'f':
                return an_jlit(sc, "false", AN_J_FALSE, v);
        case 'n':
                return an_jlit(sc, "null", AN_J_NULL, v);
        default:
                if (an_jnum(sc))
                        return -1;
                v->type = AN_J_NUM;
                break;
        }
        v->p = start;
        v->len = (size_t)(sc->s - start);
        return 0;
}

int analytics_json_scan(const char *buf, size_t len, const char *const *names,
                 struct an_jv *out, int n, char *err, size_t errlen)
{
        struct an_jscan sc = {buf, buf + len, 0, NULL};
        int r;

        for (int i = 0; i < n; i++)
                memset(&out[i], 0, sizeof(out[i]));
        an_ws(&sc);
        if (sc.s >= sc.e || *sc.s != '{')
                r = an_fail(&sc, "not a JSON object");
        else
                r = an_jobj(&sc, names, out, n);
        if (r == 0) {
                an_ws(&sc);
                if (sc.s != sc.e)
                        r = an_fail(&sc, "text after the value");
        }
        if (r)
                snprintf(err, errlen, "offset %ld: %s", (long)(sc.s - buf),
                         sc.err ? sc.err : "invalid");
        return r;
}

static unsigned an_hex4(const char *p)
{
        unsigned v = 0;

        for (int i = 0; i < 4; i++) {
                char c = p[i];

                v = v * 16 + (unsigned)(c <= '9' ? c - '0'
                                        : c <= 'F' ? c - 'A' + 10
                                                   : c - 'a' + 10);
        }
        return v;
}

int analytics_json_str(const struct an_jv *v, char *buf, size_t len)
{
        const char *p = v->p, *e = v->p + v->len;
        size_t o = 0;

        if (v->type != AN_J_STR || len == 0)
                return -1;
        while (p < e) {
                unsigned cp;

                if (o + 5 > len)
                        return -1;
                if (*p != '\\') {
                        buf[o++] = *p++;
                        continue;
                }
                p++; /* the scanner checked every escape */
                switch (*p) {
                case 'b': buf[o++] = '\b'; p++; continue;
                case 'f': buf[o++] = '\f'; p++; continue;
                case 'n': buf[o++] = '\n'; p++; continue;
                case 'r': buf[o++] = '\r'; p++; continue;
                case 't': buf[o++] = '\t'; p++; continue;
                case 'u': break;
                default: buf[o++] = *p++; continue;
                }
                cp = an_hex4(p + 1);
                p += 5;
                if (cp >= 0xd800 && cp <= 0xdbff) { /* a surrogate pair */
                        unsigned lo;

                        if (e - p < 6 || p[0] != '\\' || p[1] != 'u')
                                return -1;
                        lo = an_hex4(p + 2);
                        if (lo < 0xdc00 || lo > 0xdfff)
                                return -1;
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                        p += 6;
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                        return -1;
                }
                if (cp == 0)
                        return -1; /* no NUL inside a value */
                if (cp < 0x80) {
                        buf[o++] = (char)cp;
                } else if (cp < 0x800) {
                        buf[o++] = (char)(0xc0 | (cp >> 6));
                        buf[o++] = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                        buf[o++] = (char)(0xe0 | (cp >> 12));
                        buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        buf[o++] = (char)(0x80 | (cp & 0x3f));
                } else {
                        buf[o++] = (char)(0xf0 | (cp >> 18));
                        buf[o++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                        buf[o++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                        buf[o++] = (char)(0x80 | (cp & 0x3f));
                }
        }
        buf[o] = '\0';
        return 0;
}
