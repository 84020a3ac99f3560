/*
 * test_log.c - km_log's JSON lines: every line parses as one JSON object
 * with exactly {time, level, program, pid, event, msg}, whatever the
 * message holds (quotes, backslashes, newlines, control characters,
 * Cyrillic, invalid UTF-8, a message truncated inside a character); the
 * text format stays on one line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "km_log.h"
#include "km_utf8.h"

static char logpath[64];
static int saved_stderr = -1;

/* Send stderr to a fresh file until capture_end. */
static void capture_begin(void)
{
        int fd;

        snprintf(logpath, sizeof(logpath), "/tmp/komek-test-log-%d",
                 (int)getpid());
        fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        fflush(stderr);
        saved_stderr = dup(2);
        dup2(fd, 2);
        close(fd);
}

static char *capture_end(void)
{
        FILE *fp;
        char *buf = calloc(1, 1 << 16);
        size_t n;

        fflush(stderr);
        dup2(saved_stderr, 2);
        close(saved_stderr);
        fp = fopen(logpath, "rb");
        assert_non_null(fp);
        n = fread(buf, 1, (1 << 16) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
        unlink(logpath);
        return buf;
}

static const struct {
        const char *msg;  /* as passed to %s */
        const char *want; /* the "msg" field */
} rows[] = {
        {"plain", "plain"},
        {"quote \" backslash \\ slash /", "quote \" backslash \\ slash /"},
        {"two\nlines\r\tand\x1b[31mred", "two lines  and [31mred"},
        {"Жалоба: нет горячей воды, Есиль", "Жалоба: нет горячей воды, Есиль"},
        {"bad \xff\xfe utf8 \xc3", "bad ?? utf8 ?"},
        {"overlong \xc0\xaf surrogate \xed\xa0\x80",
         "overlong ?? surrogate ???"},
        {"{\"json\":\"inside\"}", "{\"json\":\"inside\"}"},
};

static void test_json_lines(void **state)
{
        char *out, *line, *save = NULL;
        int n = 0;

        (void)state;
        km_log_init("komek-test", KM_LOG_DEBUG, 1);
        capture_begin();
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
                km_log_info("%s", rows[i].msg);
        km_log_event(KM_LOG_WARN, "kafka_auth_failed", "broker %s: %s",
                     "127.0.0.1:19192", "SASL authentication error");
        out = capture_end();
        for (line = strtok_r(out, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save), n++) {
                json_error_t jerr;
                json_t *o = json_loads(line, 0, &jerr);
                const char *keys[] = {"time", "level", "program",
                                      "pid",  "event", "msg"};

                if (o == NULL)
                        fail_msg("line %d is not JSON (%s): %s", n + 1,
                                 jerr.text, line);
                assert_int_equal(json_object_size(o), 6);
                for (size_t k = 0; k < 6; k++)
                        if (json_object_get(o, keys[k]) == NULL)
                                fail_msg("line %d: no %s: %s", n + 1, keys[k],
                                         line);
                assert_string_equal(
                        json_string_value(json_object_get(o, "program")),
                        "komek-test");
                assert_int_equal(json_integer_value(json_object_get(o, "pid")),
                                 getpid());
                /* 2025-11-25T21:43:00.123Z */
                assert_int_equal(
                        strlen(json_string_value(json_object_get(o, "time"))),
                        24);
                if ((size_t)n < sizeof(rows) / sizeof(rows[0])) {
                        const char *got =
                                json_string_value(json_object_get(o, "msg"));

                        if (strcmp(got, rows[n].want) != 0)
                                fail_msg("row %d: got '%s', want '%s'", n, got,
                                         rows[n].want);
                        assert_string_equal(
                                json_string_value(json_object_get(o, "event")),
                                "log");
                        assert_string_equal(
                                json_string_value(json_object_get(o, "level")),
                                "info");
                } else {
                        assert_string_equal(
                                json_string_value(json_object_get(o, "event")),
                                "kafka_auth_failed");
                        assert_string_equal(
                                json_string_value(json_object_get(o, "level")),
                                "warn");
                        assert_string_equal(
                                json_string_value(json_object_get(o, "msg")),
                                "broker 127.0.0.1:19192: SASL authentication error");
                }
                json_decref(o);
        }
        assert_int_equal(n, (int)(sizeof(rows) / sizeof(rows[0])) + 1);
        free(out);
}

/* A message cut at the 2 KiB buffer inside a two-byte character still
 * gives a JSON line (jansson refuses invalid UTF-8). */
static void test_truncated(void **state)
{
        char big[3000];
        char *out;
        json_t *o;
        size_t len;

        (void)state;
        /* 2047 bytes fit: 1023 two-byte 'Ж' and the first byte of one more */
        for (size_t i = 0; i + 2 < sizeof(big); i += 2)
                memcpy(big + i, "\xd0\x96", 2);
        big[sizeof(big) - 1] = '\0';
        km_log_init("komek-test", KM_LOG_INFO, 1);
        capture_begin();
        km_log_info("%s", big);
        km_log_debug("below the level: not printed");
        out = capture_end();
        len = strlen(out);
        assert_true(len > 0 && out[len - 1] == '\n');
        assert_ptr_equal(strchr(out, '\n'), out + len - 1); /* one line */
        o = json_loads(out, 0, NULL);
        assert_non_null(o);
        assert_true(km_utf8_valid(
                json_string_value(json_object_get(o, "msg")),
                strlen(json_string_value(json_object_get(o, "msg"))), NULL));
        json_decref(o);
        free(out);
}

static void test_text(void **state)
{
        char *out;

        (void)state;
        km_log_init("komek-test", KM_LOG_INFO, 0);
        capture_begin();
        km_log_error("a\nb");
        km_log_event(KM_LOG_INFO, "batch_committed", "%d messages", 500);
        out = capture_end();
        assert_non_null(strstr(out, "] error: a b\n"));
        assert_non_null(strstr(out, "] info: batch_committed: 500 messages\n"));
        free(out);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_json_lines),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_text),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
