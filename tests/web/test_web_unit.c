/*
 * test_web_unit.c - komek-web's pure functions, table-driven: the HTML
 * escape (hostile markup, invalid and overlong UTF-8, surrogates, control
 * characters, truncation), CSV fields (quotes, formulas), PBKDF2 password
 * hashes.  The form reader is common/km_http.c's (tests/unit/test_http.c),
 * the ISO week labels km_time's (tests/unit/test_time.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_util.h"
#include "../../web/web.h"

static void test_escape(void **state)
{
        static const struct {
                const char *in;
                size_t max;
                const char *want;
        } rows[] = {
                {"<script>alert('x')</script>", 0,
                 "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"},
                {"a \"b\" & c", 0, "a &quot;b&quot; &amp; c"},
                {"Привет, Астана", 0, "Привет, Астана"},
                {"a\x01"
                 "b\nc\x7f",
                 0, "a b\nc "},
                {"\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
                {"\xed\xa0\x80", 0,
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},      /* surrogate */
                {"x\xe2\x82", 0, "x\xef\xbf\xbd\xef\xbf\xbd"}, /* cut short */
                {"\xf4\x90\x80\x80", 0,
                 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* > U+10FFFF */
                {"\xf0\x9f\x98\x80!", 0, "\xf0\x9f\x98\x80!"}, /* emoji */
                {"абвгд", 3, "абв\xe2\x80\xa6"},
                {"abc", 3, "abc"},
                {"ab<c>d", 0, "ab&lt;c&gt;d"},
                {"aбв<г", 2, "aб\xe2\x80\xa6"},
                {"a<бв", 3, "a&lt;б\xe2\x80\xa6"},
                {"до «x» & после", 0, "до «x» &amp; после"},
                {"", 0, ""},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct web_buf b = {NULL, 0, 0};

                web_buf_esc_n(&b, rows[i].in, rows[i].max);
                if (strcmp(b.p ? b.p : "", rows[i].want) != 0)
                        fail_msg("row %zu: got \"%s\", want \"%s\"", i,
                                 b.p ? b.p : "", rows[i].want);
                web_buf_free(&b);
        }
}

static void test_csv_and_url(void **state)
{
        static const struct {
                const char *in, *want;
        } csv[] = {
                {"plain", "plain"},
                {"a,b", "\"a,b\""},
                {"x\"y", "\"x\"\"y\""},
                {"=1+2", "\"'=1+2\""},
                {"+7 701", "\"'+7 701\""},
                {"@SUM(A1)", "\"'@SUM(A1)\""},
                {"-cmd", "\"'-cmd\""},
                {"-5.5", "-5.5"},
                {"line\nbreak", "\"line\nbreak\""},
                {"", ""},
                /* OWASP: -, TAB and CR lead a formula too */
                {"-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\""},
                {"\t=1", "\"'\t=1\""},
                {"\r=1", "\"'\r=1\""},
                {"-", "\"'-\""},
                {"-5.", "\"'-5.\""},
                {"-12", "-12"},
                {"-1.2.3", "\"'-1.2.3\""},
        };
        struct web_buf b = {NULL, 0, 0};

        (void)state;
        for (size_t i = 0; i < sizeof(csv) / sizeof(csv[0]); i++) {
                web_buf_csv(&b, csv[i].in);
                if (strcmp(b.p ? b.p : "", csv[i].want) != 0)
                        fail_msg("csv row %zu: got %s, want %s", i, b.p,
                                 csv[i].want);
                web_buf_free(&b);
        }
        web_buf_url(&b, "Есиль р-н & x=1");
        assert_string_equal(b.p, "%D0%95%D1%81%D0%B8%D0%BB%D1%8C%20%D1%80-%D0%"
                                 "BD%20%26%20x%3D1");
        web_buf_free(&b);
        web_buf_printf(&b, "%s-%d", "x", 7);
        for (int i = 0; i < 2000; i++) /* grows past the first block */
                web_buf_printf(&b, "%05d", i);
        assert_int_equal(b.len, 3 + 2000 * 5);
        assert_int_equal(strlen(b.p), b.len);
        web_buf_free(&b);
}

static void test_password(void **state)
{
        char h1[256], h2[256], err[128], bad[256];

        (void)state;
        assert_int_equal(web_password_hash("correct horse", 200000, h1,
                                           sizeof(h1), err, sizeof(err)),
                         0);
        assert_int_equal(web_password_hash("correct horse", 200000, h2,
                                           sizeof(h2), err, sizeof(err)),
                         0);
        assert_memory_equal(h1, "pbkdf2_sha256$200000$", 21);
        assert_string_not_equal(h1, h2); /* a random salt each time */
        assert_null(strstr(h1, "correct"));
        assert_true(web_password_verify("correct horse", h1));
        assert_true(web_password_verify("correct horse", h2));
        assert_false(web_password_verify("correct horsE", h1));
        assert_false(web_password_verify("", h1));
        snprintf(bad, sizeof(bad), "%s", h1);
        bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
        assert_false(web_password_verify("correct horse", bad));
        assert_false(
                web_password_verify("correct horse", "pbkdf2_sha256$x$y$z"));
        assert_false(web_password_verify("correct horse", "plain"));
        assert_int_equal(web_password_hash("short", 200000, h1, sizeof(h1), err,
                                           sizeof(err)),
                         KM_EINPUT);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_csv_and_url),
                cmocka_unit_test(test_password),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
