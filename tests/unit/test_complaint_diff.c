/*
 * test_complaint_diff.c - the one-pass scanner (km_complaint_parse) and
 * the jansson reference (km_complaint_parse_ref) over the same inputs, both
 * modes: the fuzz corpus (tests/fuzz/corpus/), the hostile corpus
 * (tests/hostile/cases/), a table of edge cases, generated valid complaints
 * (escapes, Unicode, numbers in every JSON form, members in any order,
 * optional members absent, null or empty) and mutations of those
 * (truncations, one byte replaced, one byte inserted).  Each must give the
 * same verdict, reason, canonical text and fields (complaint_diff.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/complaint_diff.h"
#include "km_util.h"

static struct km_conf conf;
static const int64_t now = 1784196000; /* 2026-07-16T10:00:00Z */
static unsigned long checked, valid_seen;

static void check(const char *buf, size_t len)
{
        char why[1024];
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN], err[256];

        if (cd_check(buf, len, &conf, now, why, sizeof(why)))
                fail_msg("%s\ninput (%zu bytes): %.*s", why, len,
                         (int)(len > 400 ? 400 : len), buf);
        if (km_complaint_parse(buf, len, &conf, KM_CPL_INTAKE, now, &c, reason,
                               err, sizeof(err)) == 0)
                valid_seen++;
        km_complaint_destroy(c);
        checked++;
}

static char *slurp(const char *path, size_t *len)
{
        FILE *fp = fopen(path, "rb");
        char *buf;
        long n;

        if (fp == NULL)
                return NULL;
        fseek(fp, 0, SEEK_END);
        n = ftell(fp);
        fseek(fp, 0, SEEK_SET);
        buf = km_xmalloc((size_t)n + 1);
        *len = fread(buf, 1, (size_t)n, fp);
        fclose(fp);
        return buf;
}

/* Every file of dir (and, one level down, of its subdirectories) whose
 * name ends in suffix ("" for any); @returns how many. */
static unsigned check_dir(const char *dir, const char *suffix, int depth)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        unsigned n = 0;

        if (d == NULL)
                return 0;
        while ((e = readdir(d)) != NULL) {
                char path[1024];
                size_t len, sl = strlen(suffix), nl = strlen(e->d_name);
                char *buf;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                if (e->d_type == DT_DIR) {
                        if (depth > 0)
                                n += check_dir(path, suffix, depth - 1);
                        continue;
                }
                if (nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
                        continue;
                buf = slurp(path, &len);
                if (buf == NULL)
                        continue;
                check(buf, len);
                /* a JSON Lines file: each line too */
                for (char *p = buf, *nl2;
                     (nl2 = memchr(p, '\n', (size_t)(buf + len - p)));
                     p = nl2 + 1)
                        check(p, (size_t)(nl2 - p));
                free(buf);
                n++;
        }
        closedir(d);
        return n;
}

static const char *root_dir(void)
{
        const char *r = getenv("KOMEK_ROOT");

        return r ? r : ".";
}

static void test_corpora(void **state)
{
        char path[1024];
        unsigned n;

        (void)state;
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus", root_dir());
        n = check_dir(path, "", 1);
        assert_true(n >= 4);
        snprintf(path, sizeof(path), "%s/tests/hostile/cases", root_dir());
        n = check_dir(path, ".in", 0);
        assert_true(n >= 100);
}

static void test_edges(void **state)
{
        static const char *const rows[] = {
                "{}",
                "[]",
                "[",
                "]",
                "{\"a\":1,}",
                "[1,]",
                "{\"a\" 1}",
                "{\"a\":1,\"a\":2}",
                "{\"x\":{\"a\":1,\"a\":2}}",
                "{\"x\":[{\"a\":1,\"b\":2,\"a\":3}]}",
                "{\"\\u0061\":1,\"a\":1}",
                "{\"id\":1,\"\\u0069d\":2}",
                "{\"a\":1,\"a\":2,",
                "{\"a\":1, x, \"a\":2}",
                "{\"a\":\"\\u0000\"}",
                "{\"\\u0000\":1}",
                "{\"a\":\"\\ud800\"}",
                "{\"a\":\"\\udc00\"}",
                "{\"a\":\"\\ud800\\u0041\"}",
                "{\"a\":\"\\ud83d\\ude00\"}",
                "{\"a\":\"\\x\"}",
                "{\"a\":\"\\u12\"}",
                "{\"a\":\"\t\"}",
                "{\"a\":\"\x7f\"}",
                "{\"a\":01}",
                "{\"a\":-}",
                "{\"a\":1.}",
                "{\"a\":1e}",
                "{\"a\":1e+}",
                "{\"a\":-0}",
                "{\"a\":1E400}",
                "{\"a\":-1e400}",
                "{\"a\":1e-400}",
                "{\"a\":9223372036854775807}",
                "{\"a\":9223372036854775808}",
                "{\"a\":-9223372036854775808}",
                "{\"a\":-9223372036854775809}",
                "{\"a\":truex}",
                "{\"a\":True}",
                "{\"a\":nul}",
                "{\"a\":null}",
                " {} ",
                "{} x",
                "{}\n",
                "\xef\xbb\xbf{}",
                "{\"a\":\"\xc0\x80\"}",
                "{\"a\":\"\xed\xa0\x80\"}",
                "{\"a\":\"\xf4\x90\x80\x80\"}",
                "{\"a\":\"\xe0\x9f\xbf\"}",
                "{\"a\":\"\xf0\x8f\xbf\xbf\"}",
                "{\"a\":\"\xc3\"}",
                "\"x\"",
                "1",
                "null",
                "{\"schema_version\":null}",
                "{\"schema_version\":1.0}",
                "{\"schema_version\":-0}",
                "{\"schema_version\":\"1\"}",
                "{\"address\":{\"x\":1,\"x\":2}}",
                "{\"contact\":{\"x\":1,\"x\":2}}",
                "{\"\":1}",
                "{\"media_urls\":[{\"a\":1,\"a\":1}]}",
        };
        char deep[5000];

        /* NUL bytes: jansson skips one right after a number */
        static const char nul1[] = "{\"a\":-0.0\0}", nul2[] = "{\"a\":1\0}",
                          nul3[] = "{\"a\":\"x\0\"}", nul4[] = "{}\0";

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                check(rows[i], strlen(rows[i]));
        check(nul1, sizeof(nul1) - 1);
        check(nul2, sizeof(nul2) - 1);
        check(nul3, sizeof(nul3) - 1);
        check(nul4, sizeof(nul4) - 1);
        /* depth: jansson's 2048 counts every value, the root being 1 */
        for (int d = 2045; d <= 2050; d++) {
                size_t n = 0;

                n += (size_t)snprintf(deep + n, sizeof(deep) - n, "{\"x\":");
                for (int k = 0; k < d - 2; k++)
                        deep[n++] = '[';
                deep[n++] = '1';
                for (int k = 0; k < d - 2; k++)
                        deep[n++] = ']';
                deep[n++] = '}';
                check(deep, n);
                n = 0;
                for (int k = 0; k < d; k++)
                        deep[n++] = '[';
                for (int k = 0; k < d; k++)
                        deep[n++] = ']';
                check(deep, n);
        }
}

/* --- generated complaints --- */

static unsigned rnd(void)
{
        static uint64_t s = 0x9E3779B97F4A7C15ull;

        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        return (unsigned)(s >> 11);
}

struct gen {
        char buf[8192];
        size_t n;
};

static void g_put(struct gen *g, const char *s)
{
        size_t l = strlen(s);

        if (g->n + l < sizeof(g->buf))
                memcpy(g->buf + g->n, s, l), g->n += l;
}

/* A JSON string: pieces of plain text, raw UTF-8 and escapes. */
static void g_str(struct gen *g, const char *base)
{
        static const char *const bits[] = {
                "a",
                "Z",
                "9",
                " ",
                "ул.",
                "é",
                "😀",
                "\\\"",
                "\\\\",
                "\\/",
                "\\u00e9",
                "\\u0041",
                "\\ud83d\\ude00",
                "-",
                "_",
                ".",
                "x1",
        };
        static const char *const ctrl[] = {
                "\\n", "\\t", "\\r", "\\u001f", "\\b", "\\f", "\x7f", "\\u007f",
        };

        g_put(g, "\"");
        if (base && rnd() % 20 != 0) {
                g_put(g, base);
        } else {
                unsigned k = rnd() % 12;

                for (unsigned i = 0; i < k; i++) {
                        if (rnd() % 40 == 0)
                                g_put(g, ctrl[rnd() % 8]);
                        else
                                g_put(g, bits[rnd() % (sizeof(bits) /
                                                       sizeof(bits[0]))]);
                }
        }
        g_put(g, "\"");
}

static void g_num(struct gen *g, double lo, double hi)
{
        static const char *const forms[] = {
                "51",
                "51.1",
                "-0",
                "0",
                "5.11e1",
                "511E-1",
                "1e-7",
                "-89.999",
                "90",
                "-90",
                "180",
                "-180",
                "51.123357",
                "71.4305555555",
                "0.1",
                "2",
                "-0.0",
                "1e2",
                "12345678901234567",
                "0.00012",
                "0.000012",
                "51.10",
                "-0.000",
                "51.000",
                "100.0",
                "-0.5",
                "12.3456789012345",
                "89.99999999999",
                "1.0000000000001",
                "0.0001",
                "-9e-5",
                "45.5e0",
                "0.10000000000000001",
                "-180.0",
        };
        char tmp[64];

        if (rnd() % 3 == 0) {
                snprintf(tmp, sizeof(tmp), "%.*f", (int)(rnd() % 10),
                         lo + (hi - lo) * (rnd() % 10000) / 10000.0);
                g_put(g, tmp);
        } else {
                g_put(g, forms[rnd() % (sizeof(forms) / sizeof(forms[0]))]);
        }
}

static void g_ws(struct gen *g)
{
        static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n "};

        g_put(g, ws[rnd() % 7]);
}

static void g_complaint(struct gen *g)
{
        static const char *const cats[] = {"heating", "water_supply",
                                           "teleport", "roads", "HEATING"};
        static const char *const chans[] = {"phone", "web", "app", "fax", ""};
        static const char *const times[] = {
                "2026-07-16T09:00:00Z", "2026-07-16T09:00:00.123+05:00",
                "2026-07-16T09:00:00",  "1999-12-31T23:59:59Z",
                "2030-01-01T00:00:00Z", "2026-02-30T00:00:00Z"};
        static const char *const media[] = {"http://x/y.jpg",
                                            "https://cdn.example.kz/a.png",
                                            "HTTPS://h",
                                            "javascript:alert(1)",
                                            "data:image/png;base64,AA",
                                            "http://",
                                            "https://user@/x",
                                            "http://h:80",
                                            "ftp://h/x",
                                            "http://[::1]/x",
                                            "http://a b/"};
        int order[15], n = 15;

        g->n = 0;
        for (int i = 0; i < n; i++)
                order[i] = i;
        if (rnd() % 2)
                for (int i = n - 1; i > 0; i--) {
                        int j = (int)(rnd() % (unsigned)(i + 1)), t = order[i];

                        order[i] = order[j], order[j] = t;
                }
        g_put(g, "{");
        int first = 1;
        for (int k = 0; k < n; k++) {
                int f = order[k];
                unsigned r = rnd() % 16;

                /* optional members: often absent, sometimes null */
                if (f != 2 && f != 5 && f != 6 && f != 7 && f != 8 && r < 7)
                        continue;
                if (r == 15 && rnd() % 3 == 0)
                        continue; /* even a required one */
                if (!first)
                        g_put(g, ",");
                first = 0;
                g_ws(g);
                if (r == 14 && rnd() % 2) {
                        static const char *const names[] = {
                                "\"schema_version\"",
                                "\"id\"",
                                "\"source\"",
                                "\"external_id\"",
                                "\"channel\"",
                                "\"received_at\"",
                                "\"category\"",
                                "\"description\"",
                                "\"address\"",
                                "\"building_id\"",
                                "\"lat\"",
                                "\"long\"",
                                "\"contact\"",
                                "\"media_urls\"",
                                "\"emergency\""};

                        g_put(g, names[f]);
                        g_put(g, ":null");
                        continue;
                }
                switch (f) {
                case 0:
                        g_put(g, "\"schema_version\":");
                        g_put(g, rnd() % 16 ? "1" : "2");
                        break;
                case 1:
                        g_put(g, "\"id\":");
                        g_put(g,
                              rnd() % 3
                                      ? "\"6a1b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d\""
                                      : "\"6A1B\"");
                        break;
                case 2:
                        g_put(g, "\"source\":");
                        g_str(g, rnd() % 20 ? "call109" : "Bad Source");
                        break;
                case 3:
                        g_put(g, "\"external_id\":");
                        g_str(g, rnd() % 2 ? "e-17" : NULL);
                        break;
                case 4:
                        g_put(g, "\"channel\":\"");
                        g_put(g, chans[rnd() % 8 ? rnd() % 3 : rnd() % 5]);
                        g_put(g, "\"");
                        break;
                case 5:
                        g_put(g, "\"received_at\":\"");
                        g_put(g, times[rnd() % 8 ? rnd() % 2 : rnd() % 6]);
                        g_put(g, "\"");
                        break;
                case 6:
                        g_put(g, "\"category\":\"");
                        g_put(g, cats[rnd() % 8 ? rnd() % 2 : rnd() % 5]);
                        g_put(g, "\"");
                        break;
                case 7:
                        g_put(g, "\"description\":");
                        g_str(g, NULL);
                        break;
                case 8: {
                        static const char *const ak[] = {
                                "district",  "street", "house",
                                "apartment", "text",   "zip"};
                        int af = 1;

                        g_put(g, "\"address\":{");
                        for (int i = 0; i < 6; i++) {
                                if (rnd() % (i == 5 ? 12 : 2))
                                        continue;
                                if (!af)
                                        g_put(g, ",");
                                af = 0;
                                g_put(g, "\"");
                                g_put(g, ak[i]);
                                g_put(g, "\":");
                                if (rnd() % 10 == 0)
                                        g_put(g, "\"\"");
                                else
                                        g_str(g, NULL);
                        }
                        g_put(g, "}");
                        break;
                }
                case 9:
                        g_put(g, "\"building_id\":");
                        g_str(g, rnd() % 4 ? "b-000001" : "b 1");
                        break;
                case 10:
                        g_put(g, "\"lat\":");
                        g_num(g, -95, 95);
                        break;
                case 11:
                        g_put(g, "\"long\":");
                        g_num(g, -185, 185);
                        break;
                case 12: {
                        static const char *const ck[] = {"name", "phone",
                                                         "email", "fax"};
                        int cf = 1;

                        g_put(g, "\"contact\":{");
                        for (int i = 0; i < 4; i++) {
                                if (rnd() % (i == 3 ? 12 : 2))
                                        continue;
                                if (!cf)
                                        g_put(g, ",");
                                cf = 0;
                                g_put(g, "\"");
                                g_put(g, ck[i]);
                                g_put(g, "\":");
                                g_str(g, NULL);
                        }
                        g_put(g, "}");
                        break;
                }
                case 13: {
                        unsigned m = rnd() % 4 ? rnd() % 4 : rnd() % 13;

                        g_put(g, "\"media_urls\":[");
                        for (unsigned i = 0; i < m; i++) {
                                if (i)
                                        g_put(g, ",");
                                g_put(g, "\"");
                                g_put(g, media[rnd() % 4 ? rnd() % 3
                                                         : rnd() % 11]);
                                g_put(g, "\"");
                        }
                        g_put(g, "]");
                        break;
                }
                case 14:
                        g_put(g, "\"emergency\":");
                        g_put(g, rnd() % 2 ? "true" : "false");
                        break;
                }
                g_ws(g);
        }
        g_put(g, "}");
}

static void test_generated(void **state)
{
        static const char sig[] = "{}[]\":,\\0-1e.tnu \x80\xff\x01";
        struct gen g;

        (void)state;
        valid_seen = 0;
        for (int i = 0; i < 20000; i++) {
                g_complaint(&g);
                check(g.buf, g.n);
                if (i % 4 == 0) { /* mutations */
                        char m[8200];
                        size_t at = g.n ? rnd() % g.n : 0;

                        check(g.buf, at); /* truncated */
                        memcpy(m, g.buf, g.n);
                        m[at] = sig[rnd() % (sizeof(sig) - 1)];
                        check(m, g.n); /* one byte replaced */
                        memcpy(m, g.buf, at);
                        m[at] = sig[rnd() % (sizeof(sig) - 1)];
                        memcpy(m + at + 1, g.buf + at, g.n - at);
                        check(m, g.n + 1); /* one byte inserted */
                }
        }
        /* the generator must reach valid complaints, not only rejections */
        print_message("%lu inputs checked, %lu valid\n", checked, valid_seen);
        assert_true(valid_seen > 1000);
}

static int setup(void **state)
{
        char err[256];
        char *argv[] = {"test", NULL};

        (void)state;
        unsetenv("KOMEK_CONFIG");
        return km_conf_main(&conf, "test", NULL, NULL, 1, argv, err,
                            sizeof(err));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_edges),
                cmocka_unit_test(test_corpora),
                cmocka_unit_test(test_generated),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
