/*
 * test_directory_csv.c - komek-directory's CSV reader on km_csv_split:
 * rows, their line numbers (CRLF, CR, BOM, blank lines) and every refusal
 * as "file:line: why" (the line the record starts on; a line end inside a
 * quoted field is framed as part of it, then refused as a control
 * character).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/directory/directory.h"

static char dir[] = "/tmp/test_directory_csv.XXXXXX";

/* Write text to dir/name and read it; the error (without the directory)
 * or "" into err. */
static int dc_read(const char *name, const char *text, size_t len,
                   struct directory_csv *csv, char *err, size_t errlen)
{
        char path[256], e[512] = "";
        FILE *fp;
        int r;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(text, 1, len, fp), len);
        fclose(fp);
        r = directory_csv_read(path, csv, e, sizeof(e));
        snprintf(err, errlen, "%s",
                 strncmp(e, dir, strlen(dir)) ? e : e + strlen(dir) + 1);
        unlink(path);
        return r;
}

static void test_rows(void **state)
{
        static const char text[] = "\xef\xbb\xbf"
                                   "id,name\r\n"
                                   "1,\"a, \"\"b\"\"\"\r\n"
                                   "\r\n"
                                   "2,\"two\"\r"
                                   "3,\n";
        struct directory_csv csv;
        char err[512];

        (void)state;
        assert_int_equal(dc_read("rows.csv", text, sizeof(text) - 1, &csv, err,
                                 sizeof(err)),
                         0);
        assert_int_equal(csv.nrows, 4);
        assert_int_equal(csv.ncols, 2);
        assert_string_equal(csv.rows[0][1], "name");
        assert_string_equal(csv.rows[1][1], "a, \"b\"");
        assert_string_equal(csv.rows[2][1], "two");
        assert_string_equal(csv.rows[3][1], "");
        assert_int_equal(csv.lines[1], 2);
        assert_int_equal(csv.lines[2], 4);
        assert_int_equal(csv.lines[3], 5);
        assert_int_equal(directory_csv_col(&csv, "name"), 1);
        assert_int_equal(directory_csv_col(&csv, "phone"), -1);
        directory_csv_free(&csv);
}

static void test_refusals(void **state)
{
        static char longf[4200];
        static const struct {
                const char *text, *want;
        } rows[] = {
                {"a,b\n1,\"2\n3\n", "x.csv:2: unterminated quote"},
                {"a,b\n1,\"2\"x\n", "x.csv:2: field 2: text after the "
                                    "closing quote"},
                {"a,b\nx\"y,2\n", "x.csv:2: field 1: quote inside an "
                                  "unquoted field"},
                {"a,b\n1,2\n\n1,2,3\n", "x.csv:4: 3 fields, the header has 2"},
                {"a,b\n1,\"two\nlines\"\n", "x.csv:2: invalid UTF-8 or control "
                                            "characters"},
                {"a,b\n1,\"two\nlines\",3\n", "x.csv:2: invalid UTF-8 or "
                                              "control characters"},
                {"a,b\n1,\x01\n", "x.csv:2: invalid UTF-8 or control "
                                  "characters"},
                {"a,b\n1,\"x\ty\"\n", "x.csv:2: invalid UTF-8 or control "
                                      "characters"},
                {"a,b\n1,\xff\n", "x.csv:2: invalid UTF-8 or control "
                                  "characters"},
                {"", "x.csv: no header"},
                {"\n\n", "x.csv: no header"},
                {longf, "x.csv:2: field longer than 4096 bytes"},
        };
        struct directory_csv csv;
        char err[512];

        (void)state;
        memcpy(longf, "a,b\n1,", 6);
        memset(longf + 6, 'x', 4097);
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                assert_int_equal(dc_read("x.csv", rows[i].text,
                                         strlen(rows[i].text), &csv, err,
                                         sizeof(err)),
                                 KM_EINPUT);
                assert_string_equal(err, rows[i].want);
                directory_csv_free(&csv);
        }
        /* a NUL byte, and a field of exactly 4096 bytes is taken */
        assert_int_equal(
                dc_read("x.csv", "a,b\n1,2\0003\n", 11, &csv, err, sizeof(err)),
                KM_EINPUT);
        assert_string_equal(err, "x.csv:2: invalid UTF-8 or control "
                                 "characters");
        directory_csv_free(&csv);
        longf[6 + 4096] = '\0';
        assert_int_equal(
                dc_read("x.csv", longf, strlen(longf), &csv, err, sizeof(err)),
                0);
        assert_int_equal(strlen(csv.rows[1][1]), 4096);
        directory_csv_free(&csv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rows),
                cmocka_unit_test(test_refusals),
        };
        int r;

        if (mkdtemp(dir) == NULL)
                return 1;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        rmdir(dir);
        return r;
}
