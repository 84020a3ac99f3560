/*
 * test_csv.c - km_csv: RFC 4180 quoting and OWASP's CSV-injection rule
 * (a cell starting with =, +, -, @, TAB or CR is defused with a leading
 * apostrophe; a plain number keeps its sign), and the snprintf contract
 * (the full length returned, the output truncated and NUL-terminated);
 * the reader: km_csv_split's fields and refusals, km_csv_quote_state
 * across line ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_csv.h"

static void test_cells(void **state)
{
        static const struct {
                const char *in, *want;
        } rows[] = {
                {"plain", "plain"},
                {"", ""},
                {"a,b", "\"a,b\""},
                {"x\"y", "\"x\"\"y\""},
                {"line\nbreak", "\"line\nbreak\""},
                {"cr\rin", "\"cr\rin\""},
                {"=1+2", "\"'=1+2\""},
                {"+7 701", "\"'+7 701\""},
                {"@SUM(A1)", "\"'@SUM(A1)\""},
                {"-cmd", "\"'-cmd\""},
                {"-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\""},
                {"\t=1", "\"'\t=1\""},
                {"\r=1", "\"'\r=1\""},
                {"=HYPERLINK(\"http://x\")",
                 "\"'=HYPERLINK(\"\"http://x\"\")\""},
                {"-", "\"'-\""},
                {"-5.", "\"'-5.\""},
                {"-1.2.3", "\"'-1.2.3\""},
                {"-.5", "\"'-.5\""},
                /* plain numbers: read as numbers, never formulas */
                {"-5.5", "-5.5"},
                {"-12", "-12"},
                {"-100.0", "-100.0"},
                {"42", "42"},
                /* not at the start: no formula */
                {"a=1", "a=1"},
                {"Есиль р-н", "Есиль р-н"},
        };
        char out[128];

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                size_t n = km_csv_cell(rows[i].in, out, sizeof(out));

                if (strcmp(out, rows[i].want) != 0 || n != strlen(rows[i].want))
                        fail_msg("row %zu: got [%s] (%zu), want [%s]", i, out,
                                 n, rows[i].want);
                assert_int_equal(km_csv_formula(rows[i].in),
                                 rows[i].want[0] == '"' &&
                                         rows[i].want[1] == '\'');
        }
        assert_int_equal(km_csv_cell(NULL, out, sizeof(out)), 0);
        assert_string_equal(out, "");
        assert_int_equal(km_csv_formula(NULL), 0);
}

static void test_truncation(void **state)
{
        char out[6];

        (void)state;
        /* "'=1+2" quoted is 7 bytes: 5 written, NUL-terminated */
        assert_int_equal(km_csv_cell("=1+2", NULL, 0), 7);
        assert_int_equal(km_csv_cell("=1+2", out, sizeof(out)), 7);
        assert_string_equal(out, "\"'=1+");
        assert_int_equal(km_csv_cell("ab", out, 1), 2);
        assert_string_equal(out, "");
}

static void test_split(void **state)
{
        static const struct {
                const char *in;
                int n;
                const char *want; /* fields joined by '|', or the error */
        } rows[] = {
                {"a,b,c", 3, "a|b|c"},
                {"", 1, ""},
                {",", 2, "|"},
                {"\"a,b\",\"x\"\"y\"", 2, "a,b|x\"y"},
                {"\"line\nbreak\",2", 2, "line\nbreak|2"},
                {"\"\",", 2, "|"},
                {"1,\"2", KM_EINPUT, "field 2: unterminated quote"},
                {"\"2\"x,1", KM_EINPUT,
                 "field 1: text after the closing quote"},
                {"x\"y,2", KM_EINPUT,
                 "field 1: quote inside an unquoted field"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                char **f = NULL, *block = NULL, err[128] = "", got[128] = "";
                int n = km_csv_split(rows[i].in, strlen(rows[i].in), &f, &block,
                                     err, sizeof(err));

                assert_int_equal(n, rows[i].n);
                for (int j = 0; j < n; j++)
                        snprintf(got + strlen(got), sizeof(got) - strlen(got),
                                 "%s%s", j ? "|" : "", f[j]);
                assert_string_equal(n < 0 ? err : got, rows[i].want);
                if (n < 0) {
                        assert_null(f);
                        assert_null(block);
                }
                free(f);
                free(block);
        }
}

static void test_quote_state(void **state)
{
        (void)state;
        assert_int_equal(km_csv_quote_state("a,b\n", 4, 0), 0);
        assert_int_equal(km_csv_quote_state("a,\"b\n", 5, 0), 2);
        assert_int_equal(km_csv_quote_state("c\",d\n", 5, 2), 0);
        assert_int_equal(km_csv_quote_state("\"\"\"", 3, 0), 2);
        assert_int_equal(km_csv_quote_state("\"x\"", 3, 0), 3);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cells),
                cmocka_unit_test(test_truncation),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_quote_state),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
