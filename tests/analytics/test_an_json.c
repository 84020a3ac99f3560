/*
 * test_an_json.c - komek-analytics' validating JSON scanner
 * (workers/analytics/analytics_json.c): a table of {input, valid, member
 * "a" decoded} rows; every row says got X, want Y on failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../workers/analytics/analytics.h"

static void test_table(void **state)
{
        static const struct {
                const char *in;
                int ok;        /* the text is valid JSON, an object */
                const char *a; /* member "a" decoded (NULL: absent or not
                                * a decodable string) */
        } rows[] = {
            {"{\"a\":\"x\",\"b\":1}", 1, "x"},
            {" { \"a\" : \"x\" } \n", 1, "x"},
            {"{\"a\":\"x\\u0041\\n\\\"\\\\\\/\"}", 1, "xA\n\"\\/"},
            {"{\"a\":\"\\ud83d\\ude00\"}", 1, "\xf0\x9f\x98\x80"},
            {"{\"a\":\"\\u00e9\\u0416\"}", 1, "\xc3\xa9\xd0\x96"},
            {"{\"a\":\"\\ud83d\"}", 1, NULL},     /* lone surrogate */
            {"{\"a\":\"\\u0000\"}", 1, NULL},     /* NUL inside */
            {"{\"\\u0061\":\"y\"}", 1, "y"},     /* escaped name */
            {"{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":-0.5e+3}", 1, NULL},
            {"{\"b\":{\"a\":\"inner\"},\"a\":\"outer\"}", 1, "outer"},
            {"{}", 1, NULL},
            {"{\"a\":1,\"a\":2}", 0, NULL},       /* duplicate asked-for */
            {"{\"a\":01}", 0, NULL},
            {"{\"a\":1.}", 0, NULL},
            {"{\"a\":-}", 0, NULL},
            {"{\"a\":1e}", 0, NULL},
            {"{\"a\":tru}", 0, NULL},
            {"{\"a\":\"x\"} x", 0, NULL},
            {"{\"a\":\"x\"", 0, NULL},
            {"{\"a\":\"x", 0, NULL},
            {"[1]", 0, NULL},
            {"", 0, NULL},
            {"{", 0, NULL},
            {"{\"a\" 1}", 0, NULL},
            {"{\"a\":1,}", 0, NULL},
            {"{\"a\":\"\\x\"}", 0, NULL},
            {"{\"a\":\"\\u12\"}", 0, NULL},
            {"{\"a\":\"tab\there\"}", 0, NULL},
            {"{\"a\":[1,]}", 0, NULL},
            {"{a:1}", 0, NULL},
            {"{\"a\":\"x\"}{}", 0, NULL},
        };
        static const char *const names[] = {"a", "b"};
        char err[200], buf[64], deep[200];

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct an_jv v[2];
                int r = analytics_json_scan(rows[i].in, strlen(rows[i].in),
                                            names, v, 2, err, sizeof(err));
                const char *got = NULL;

                if ((r == 0) != rows[i].ok)
                        fail_msg("row %zu %s: got %s (%s), want %s", i,
                                 rows[i].in, r ? "invalid" : "valid",
                                 r ? err : "", rows[i].ok ? "valid" : "invalid");
                if (r == 0 && v[0].type == AN_J_STR &&
                    analytics_json_str(&v[0], buf, sizeof(buf)) == 0)
                        got = buf;
                if ((got == NULL) != (rows[i].a == NULL) ||
                    (got && strcmp(got, rows[i].a)))
                        fail_msg("row %zu %s: a = %s, want %s", i, rows[i].in,
                                 got ? got : "(none)",
                                 rows[i].a ? rows[i].a : "(none)");
        }
        /* nesting is bounded */
        memset(deep, 0, sizeof(deep));
        strcpy(deep, "{\"a\":");
        for (int i = 0; i < 40; i++)
                strcat(deep, "[");
        for (int i = 0; i < 40; i++)
                strcat(deep, "]");
        strcat(deep, "}");
        {
                struct an_jv v[2];

                assert_int_not_equal(analytics_json_scan(deep, strlen(deep),
                                                         names, v, 2, err,
                                                         sizeof(err)),
                                     0);
                assert_non_null(strstr(err, "deep"));
        }
        /* a decoded string longer than the buffer is refused */
        {
                struct an_jv v[2];
                const char *in = "{\"a\":\"0123456789\"}";

                assert_int_equal(analytics_json_scan(in, strlen(in), names, v,
                                                     2, err, sizeof(err)),
                                 0);
                assert_int_not_equal(analytics_json_str(&v[0], buf, 8), 0);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
