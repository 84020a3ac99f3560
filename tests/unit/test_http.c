/*
 * test_http.c - common/km_http.c's one strict form decoder (what
 * komek-gateway and komek-web both read: a '%' without two hex digits,
 * %00 and bytes that are not UTF-8 are refused with a reason), the field
 * walk and lookup, and common/km_hash.c (SHA-256 hex against known
 * digests, hex, the constant-time comparison).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_hash.h"
#include "km_http.h"

static void test_unescape(void **state)
{
        static const struct {
                const char *in;
                const char *want; /* NULL: refused */
                const char *why;  /* in the reason when refused */
        } rows[] = {
                {"", "", NULL},
                {"abc", "abc", NULL},
                {"a+b", "a b", NULL},
                {"%41%62", "Ab", NULL},
                {"%d0%b0", "\xd0\xb0", NULL}, /* lower-case hex */
                {"%D0%B0+b%0D%0A", "\xd0\xb0 b\r\n", NULL},
                {"100%25", "100%", NULL},
                {"%2B", "+", NULL},
                {"%zz", NULL, "two hex digits"},
                {"a%zzb", NULL, "two hex digits"},
                {"%4", NULL, "two hex digits"},   /* truncated */
                {"100%", NULL, "two hex digits"}, /* web used to pass it */
                {"%G1", NULL, "two hex digits"},
                {"%1G", NULL, "two hex digits"},
                {"x%00y", NULL, "%00"},
                {"%FF", NULL, "UTF-8"},
                {"%C3%28", NULL, "UTF-8"},
                {"%ED%A0%80", NULL, "UTF-8"}, /* a surrogate */
                {"%C0%AF", NULL, "UTF-8"},    /* overlong '/' */
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char *out = (char *)"unset", err[256] = "";
                int r = km_http_unescape(rows[i].in, strlen(rows[i].in), &out,
                                         err, sizeof(err));

                if (rows[i].want == NULL) {
                        if (r != KM_EINPUT || out != NULL ||
                            strstr(err, "invalid_encoding") == NULL ||
                            strstr(err, rows[i].why) == NULL)
                                fail_msg("%s: got %d \"%s\", want KM_EINPUT "
                                         "with \"%s\"",
                                         rows[i].in, r, err, rows[i].why);
                        continue;
                }
                if (r != 0 || strcmp(out, rows[i].want) != 0)
                        fail_msg("%s: got %d \"%s\", want \"%s\"", rows[i].in,
                                 r, r ? err : out, rows[i].want);
                free(out);
        }
}

/* An embedded NUL in the raw bytes is refused as %00 is. */
static void test_unescape_raw_nul(void **state)
{
        char *out = NULL, err[256];

        (void)state;
        assert_int_equal(km_http_unescape("a\0b", 3, &out, err, sizeof(err)),
                         KM_EINPUT);
        assert_null(out);
}

struct seen {
        char text[512];
        int stop_at; /* 0: never */
        int n;
};

static int seen_cb(void *opaque, const char *name, const char *value)
{
        struct seen *s = opaque;
        size_t len = strlen(s->text);

        snprintf(s->text + len, sizeof(s->text) - len, "[%s=%s]", name, value);
        return ++s->n == s->stop_at ? 7 : 0;
}

static void test_form_parse(void **state)
{
        static const struct {
                const char *body;
                int want;         /* 0, KM_EINPUT */
                const char *seen; /* the fields, in order */
        } rows[] = {
                {"", 0, ""},
                {"a=1&b=2", 0, "[a=1][b=2]"},
                {"a=1&&b=", 0, "[a=1][b=]"},         /* empty field skipped */
                {"flag&x=%20y", 0, "[flag=][x= y]"}, /* no '=': "" */
                {"n%61me=v", 0, "[name=v]"},         /* names are decoded too */
                {"a=1&b=%zz&c=3", KM_EINPUT, "[a=1]"},
                {"a=1&%00=x", KM_EINPUT, "[a=1]"},
                {"a=%E2%82", KM_EINPUT, ""}, /* cut mid-character */
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct seen s = {"", 0, 0};
                char err[256] = "";
                int r = km_http_form_parse(rows[i].body, strlen(rows[i].body),
                                           seen_cb, &s, err, sizeof(err));

                if (r != rows[i].want || strcmp(s.text, rows[i].seen) != 0)
                        fail_msg("%s: got %d %s, want %d %s", rows[i].body, r,
                                 s.text, rows[i].want, rows[i].seen);
                /* without a callback: the same verdict */
                r = km_http_form_parse(rows[i].body, strlen(rows[i].body), NULL,
                                       NULL, err, sizeof(err));
                if (r != rows[i].want)
                        fail_msg("%s (check only): got %d, want %d",
                                 rows[i].body, r, rows[i].want);
        }
}

/* The callback stops the walk; its value comes back. */
static void test_form_stop(void **state)
{
        struct seen s = {"", 2, 0};
        char err[64];

        (void)state;
        assert_int_equal(km_http_form_parse("a=1&b=2&c=3", 11, seen_cb, &s, err,
                                            sizeof(err)),
                         7);
        assert_string_equal(s.text, "[a=1][b=2]");
}

static void test_form_get(void **state)
{
        static const char body[] =
                "ab=2&a=3&note=%D0%B0+b%0D%0A&a=4&empty=&csrf=x";
        static const struct {
                const char *name, *want; /* want NULL: absent */
        } rows[] = {
                {"a", "3"}, /* the first of two */
                {"ab", "2"},   {"note", "\xd0\xb0 b\r\n"},
                {"empty", ""}, {"missing", NULL},
                {"b", NULL},   {"csrf", "x"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char *v = km_http_form_get(body, strlen(body), rows[i].name);

                if ((v == NULL) != (rows[i].want == NULL) ||
                    (v && strcmp(v, rows[i].want)))
                        fail_msg("%s: got %s, want %s", rows[i].name,
                                 v ? v : "(none)",
                                 rows[i].want ? rows[i].want : "(none)");
                free(v);
        }
        assert_null(km_http_form_get("", 0, "a"));
        /* a body that is not a valid form has no fields at all */
        assert_null(km_http_form_get("a=1&b=%zz", 9, "a"));
        assert_null(km_http_form_get("csrf=x&pct=100%", 15, "csrf"));
}

static void test_hash(void **state)
{
        static const struct {
                const char *in, *want;
        } rows[] = {
                {"",
                 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78"
                 "52b855"},
                {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff"
                        "61f20015ad"},
        };
        static const unsigned char bytes[] = {0x00, 0x0f, 0xa5, 0xff};
        char hex[KM_SHA256_HEX], small[2 * sizeof(bytes) + 1];

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                km_hash_sha256_hex(rows[i].in, strlen(rows[i].in), hex);
                if (strcmp(hex, rows[i].want) != 0)
                        fail_msg("sha256(%s): got %s, want %s", rows[i].in, hex,
                                 rows[i].want);
        }
        km_hash_hex(bytes, sizeof(bytes), small);
        assert_string_equal(small, "000fa5ff");
        assert_true(km_hash_equal("abc", "abc"));
        assert_false(km_hash_equal("abc", "abd"));
        assert_false(km_hash_equal("abc", "abcd"));
        assert_false(km_hash_equal("", "")); /* an empty secret never */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_unescape),
                cmocka_unit_test(test_unescape_raw_nul),
                cmocka_unit_test(test_form_parse),
                cmocka_unit_test(test_form_stop),
                cmocka_unit_test(test_form_get),
                cmocka_unit_test(test_hash),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
