/*
 * test_id.c - complaint id derivation: stable, UUIDv5-shaped, distinct for
 * distinct (source, external_id), and RFC 3339 time parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "km_id.h"
#include "km_util.h"
#include "km_utf8.h"

static void test_derive_stable(void **state)
{
        char a[KM_ID_LEN], b[KM_ID_LEN], c[KM_ID_LEN], d[KM_ID_LEN];

        (void)state;
        km_id_derive("call109", "109-2026-000123", a);
        km_id_derive("call109", "109-2026-000123", b);
        km_id_derive("city-web", "109-2026-000123", c);
        /* the separator keeps ("ab","c") and ("a","bc") apart */
        km_id_derive("call109a", "09-2026-000123", d);
        assert_string_equal(a, b);
        assert_string_not_equal(a, c);
        assert_string_not_equal(a, d);
        assert_true(km_id_valid(a));
        assert_int_equal(a[14], '5');               /* version 5 */
        assert_true(strchr("89ab", a[19]) != NULL); /* RFC 4122 variant */
        /* changing the namespace or the scheme breaks every stored id, so
         * this value must never change */
        /* pinned (Python: uuid.uuid5(NS, "call109\n109-2026-000123")) */
        assert_string_equal(a, "d9bfd93e-3379-5086-8a7a-42b221a21e57");
}

static void test_random_valid(void **state)
{
        char a[KM_ID_LEN], b[KM_ID_LEN];

        (void)state;
        km_id_random(a);
        km_id_random(b);
        assert_true(km_id_valid(a));
        assert_string_not_equal(a, b);
        assert_int_equal(a[14], '4');
}

static void test_valid_table(void **state)
{
        static const struct {
                const char *in;
                int want;
        } rows[] = {
                {"6f1c2a4e-8b1d-5c3e-9a70-6b6f6d656b31", 1},
                {"6F1C2A4E-8B1D-5C3E-9A70-6B6F6D656B31", 0},
                {"6f1c2a4e8b1d5c3e9a706b6f6d656b31", 0},
                {"", 0},
                {"6f1c2a4e-8b1d-5c3e-9a70-6b6f6d656b3", 0},
                {"6f1c2a4e-8b1d-5c3e-9a70-6b6f6d656b31x", 0},
                {"zf1c2a4e-8b1d-5c3e-9a70-6b6f6d656b31", 0},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                int got = km_id_valid(rows[i].in);

                if (got != rows[i].want)
                        fail_msg("km_id_valid(\"%s\"): got %d, want %d",
                                 rows[i].in, got, rows[i].want);
        }
}

static void test_rfc3339_table(void **state)
{
        static const struct {
                const char *in;
                int ok;
                int64_t want;
        } rows[] = {
                {"2026-07-16T10:00:00Z", 1, 1784196000},
                {"2026-07-16T15:00:00+05:00", 1, 1784196000},
                {"2026-07-16T10:00:00.123Z", 1, 1784196000},
                {"1970-01-01T00:00:00Z", 1, 0},
                {"2024-02-29T00:00:00Z", 1, 1709164800},
                {"2026-02-29T00:00:00Z", 0, 0},
                {"2026-13-01T00:00:00Z", 0, 0},
                {"2026-07-16 10:00:00", 0, 0},
                {"2026-07-16T10:00:00", 0, 0},
                {"yesterday", 0, 0},
                {"2026-07-16T10:00:00Zjunk", 0, 0},
                {"", 0, 0},
                /* second 60: only 23:59:60 UTC (a leap second's place),
                 * after the offset is applied; clamped to 23:59:59 */
                {"2016-12-31T23:59:60Z", 1, 1483228799},
                {"2016-12-31T23:59:60.5Z", 1, 1483228799},
                {"2016-12-31T18:59:60-05:00", 1, 1483228799},
                {"2017-01-01T00:59:60+01:00", 1, 1483228799},
                {"2026-11-16T12:00:60Z", 0, 0},
                {"2016-12-31T23:59:60+01:00", 0, 0},
                {"2016-12-31T23:58:60Z", 0, 0},
                {"2016-12-31T23:59:61Z", 0, 0},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                int64_t t = -1;
                int ok = km_parse_rfc3339(rows[i].in, &t) == 0;

                if (ok != rows[i].ok || (ok && t != rows[i].want))
                        fail_msg("parse(\"%s\"): got ok=%d t=%lld, want ok=%d "
                                 "t=%lld",
                                 rows[i].in, ok, (long long)t, rows[i].ok,
                                 (long long)rows[i].want);
        }
}

static void test_utf8_table(void **state)
{
        static const struct {
                const char *in;
                size_t len;
                int want;
        } rows[] = {
                {"plain", 5, 1},
                {"\xd0\x9d\xd0\xb5\xd1\x82", 6, 1}, /* Нет */
                {"\xd2\x9b\xd0\xb0\xd0\xb7", 6, 1}, /* қаз */
                {"\xf0\x9f\x98\x80", 4, 1},         /* emoji */
                {"\xc0\xaf", 2, 0},                 /* overlong '/' */
                {"\xe0\x80\xaf", 3, 0},             /* overlong */
                {"\xed\xa0\x80", 3, 0},             /* surrogate */
                {"\xf4\x90\x80\x80", 4, 0},         /* > U+10FFFF */
                {"\xd0", 1, 0},                     /* truncated */
                {"\xff", 1, 0},
                {"a\x80", 2, 0},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                int got = km_utf8_valid(rows[i].in, rows[i].len, NULL);

                if (got != rows[i].want)
                        fail_msg("utf8 row %zu: got %d, want %d", i, got,
                                 rows[i].want);
        }
        assert_int_equal(km_utf8_chars("\xd0\x9d\xd0\xb5\xd1\x82"), 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derive_stable),
                cmocka_unit_test(test_random_valid),
                cmocka_unit_test(test_valid_table),
                cmocka_unit_test(test_rfc3339_table),
                cmocka_unit_test(test_utf8_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
