/*
 * test_complaint.c - the complaint model against a table of inputs and the
 * reason each must produce, and the canonical form of a valid one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_util.h"

static struct km_conf conf;
static const int64_t now = 1784196000; /* 2026-07-16T10:00:00Z */

#define OK_BASE                                                                        \
        "\"source\":\"call109\",\"external_id\":\"e1\",\"received_at\":"               \
        "\"2026-07-16T09:00:00Z\",\"category\":\"heating\","                           \
        "\"description\":\"Нет отопления\",\"address\":{\"text\":\"ул. " \
        "Кенесары, 12\"}"

static const struct {
        const char *in;
        const char *want; /* reason, or "" for valid */
} rows[] = {
        {"{" OK_BASE "}", ""},
        {"{" OK_BASE ",\"channel\":\"phone\",\"emergency\":true,\"lat\":51.1,"
         "\"long\":71.4,\"contact\":{\"name\":\"A\",\"phone\":\"+7701\"}}",
         ""},
        {"{" OK_BASE ",\"schema_version\":1}", ""},
        {"{" OK_BASE ",\"schema_version\":2}", "unsupported_schema_version"},
        {"", "invalid_json"},
        {"{", "invalid_json"},
        {"[1,2]", "wrong_type:root"},
        {"null", "invalid_json"},
        {"{\"a\":1,\"a\":2}", "duplicate_key"},
        {"{" OK_BASE ",\"source\":\"x\"}", "duplicate_key"},
        {"{\"description\":\"\xff\"}", "invalid_utf8"},
        {"{" OK_BASE ",\"foo\":1}", "unknown_field:foo"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"address\":{\"text\":\"x\"}}",
         "missing_field:description"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":7,\"description\":\"d\",\"address\":{\"text\":\"x\"}}",
         "wrong_type:category"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"teleport\",\"description\":\"d\",\"address\":"
         "{\"text\":\"x\"}}",
         "unknown_category"},
        {"{\"source\":\"call109\",\"received_at\":\"someday\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":"
         "{\"text\":\"x\"}}",
         "invalid_field:received_at"},
        {"{\"source\":\"call109\",\"received_at\":\"2031-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":"
         "{\"text\":\"x\"}}",
         "invalid_field:received_at"},
        {"{\"source\":\"call109\",\"received_at\":\"0001-01-01T00:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":"
         "{\"text\":\"x\"}}",
         "invalid_field:received_at"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\"}",
         "missing_field:address"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":{}}",
         "missing_field:address"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":"
         "{\"planet\":\"x\"}}",
         "unknown_field:address.planet"},
        {"{\"source\":\"Call 109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"d\",\"address\":"
         "{\"text\":\"x\"}}",
         "invalid_field:source"},
        {"{" OK_BASE ",\"lat\":91,\"long\":71}", "invalid_field:lat"},
        {"{" OK_BASE ",\"lat\":51}", "invalid_field:lat"},
        {"{" OK_BASE ",\"lat\":\"51\",\"long\":71}", "wrong_type:lat"},
        {"{" OK_BASE ",\"lat\":1e999,\"long\":71}", "invalid_json"},
        {"{" OK_BASE ",\"emergency\":\"yes\"}", "wrong_type:emergency"},
        {"{" OK_BASE ",\"building_id\":\"b-1; DROP TABLE\"}",
         "invalid_field:building_id"},
        {"{" OK_BASE ",\"id\":\"6f1c2a4e-8b1d-5c3e-9a70-6b6f6d656b31\"}",
         "invalid_field:id"},
        {"{" OK_BASE ",\"channel\":\"pigeon\"}", "invalid_field:channel"},
        {"{" OK_BASE ",\"contact\":{\"name\":\"A\",\"ssn\":\"1\"}}",
         "unknown_field:contact"},
        {"{" OK_BASE ",\"media_urls\":\"x\"}", "wrong_type:media_urls"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"a\\u0001b\","
         "\"address\":{\"text\":\"x\"}}",
         "invalid_field:description"},
        {"{\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","
         "\"category\":\"heating\",\"description\":\"a\\u0000b\","
         "\"address\":{\"text\":\"x\"}}",
         "invalid_json"},
};

static void test_reasons(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct km_complaint *c = NULL;
                char reason[KM_REASON_LEN] = "", err[256] = "";
                int r = km_complaint_parse(rows[i].in, strlen(rows[i].in),
                                           &conf, KM_CPL_INTAKE, now, &c,
                                           reason, err, sizeof(err));
                const char *got = r == 0 ? "" : reason;

                if (strcmp(got, rows[i].want) != 0)
                        fail_msg("row %zu: got \"%s\" (%s), want \"%s\"", i,
                                 got, err, rows[i].want);
                assert_true(r == 0 ? c != NULL : c == NULL);
                km_complaint_destroy(c);
        }
}

static void test_too_long_and_large(void **state)
{
        size_t n = 4001 * 2 + 400; /* 4,001 Cyrillic characters */
        char *desc = km_xmalloc(n), *json;
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN], err[256];
        size_t pos = 0;

        (void)state;
        for (int i = 0; i < 4001; i++) {
                desc[pos++] = '\xd0';
                desc[pos++] = '\x96'; /* Ж */
        }
        desc[pos] = '\0';
        json = km_xasprintf("{\"source\":\"s\",\"received_at\":"
                            "\"2026-07-16T09:00:00Z\",\"category\":\"heating\","
                            "\"description\":\"%s\",\"address\":{\"text\":"
                            "\"x\"}}",
                            desc);
        assert_int_equal(km_complaint_parse(json, strlen(json), &conf,
                                            KM_CPL_INTAKE, now, &c, reason, err,
                                            sizeof(err)),
                         KM_EINPUT);
        assert_string_equal(reason, "too_long:description");
        free(json);
        /* 4,000 characters (8,000 bytes) are fine */
        desc[4000 * 2] = '\0';
        json = km_xasprintf("{\"source\":\"s\",\"received_at\":"
                            "\"2026-07-16T09:00:00Z\",\"category\":\"heating\","
                            "\"description\":\"%s\",\"address\":{\"text\":"
                            "\"x\"}}",
                            desc);
        assert_int_equal(km_complaint_parse(json, strlen(json), &conf,
                                            KM_CPL_INTAKE, now, &c, reason, err,
                                            sizeof(err)),
                         0);
        km_complaint_destroy(c);
        free(json);
        free(desc);
        /* over max_message_bytes before any parsing */
        desc = km_xcalloc(70000, 1);
        memset(desc, ' ', 69999);
        assert_int_equal(km_complaint_parse(desc, 69999, &conf, KM_CPL_INTAKE,
                                            now, &c, reason, err, sizeof(err)),
                         KM_EINPUT);
        assert_string_equal(reason, "too_large");
        free(desc);
}

static void test_canonical(void **state)
{
        const char *in =
                "{" OK_BASE ",\"contact\":{\"phone\":\"+77011234567\"},"
                "\"received_at\":\"2026-07-16T14:00:00+05:00\"}";
        struct km_complaint *c = NULL, *c2 = NULL;
        char reason[KM_REASON_LEN], err[256], *out, *out2, *pub;

        (void)state;
        /* duplicate received_at: rejected */
        assert_int_equal(km_complaint_parse(in, strlen(in), &conf,
                                            KM_CPL_INTAKE, now, &c, reason, err,
                                            sizeof(err)),
                         KM_EINPUT);
        in = "{\"received_at\":\"2026-07-16T14:00:00+05:00\",\"source\":"
             "\"call109\",\"external_id\":\"e1\",\"category\":\"heating\","
             "\"description\":\"Нет отопления\",\"address\":{\"text\":\"ул. "
             "Кенесары, 12\"},\"contact\":{\"phone\":\"+77011234567\"}}";
        assert_int_equal(km_complaint_parse(in, strlen(in), &conf,
                                            KM_CPL_INTAKE, now, &c, reason, err,
                                            sizeof(err)),
                         0);
        assert_string_equal(c->received_at_str, "2026-07-16T09:00:00Z");
        assert_string_equal(c->id, "245f04c9-834c-5460-bbee-942e3ff80728");
        out = km_complaint_dumps(c, 0);
        assert_true(strncmp(out, "{\"schema_version\":1,\"id\":\"", 26) == 0);
        assert_non_null(strstr(out, "+77011234567"));
        pub = km_complaint_dumps(c, KM_CPL_NO_PII);
        assert_null(strstr(pub, "+77011234567"));
        assert_null(strstr(pub, "contact"));
        /* the canonical form parses strictly to the same canonical form */
        assert_int_equal(km_complaint_parse(out, strlen(out), &conf,
                                            KM_CPL_STRICT, now, &c2, reason,
                                            err, sizeof(err)),
                         0);
        out2 = km_complaint_dumps(c2, 0);
        assert_string_equal(out, out2);
        assert_string_equal(c->id, c2->id);
        free(out);
        free(out2);
        free(pub);
        km_complaint_destroy(c);
        km_complaint_destroy(c2);
}

static void test_strict_needs_id(void **state)
{
        const char *in = "{" OK_BASE "}";
        struct km_complaint *c = NULL;
        char reason[KM_REASON_LEN], err[256];

        (void)state;
        assert_int_equal(km_complaint_parse(in, strlen(in), &conf,
                                            KM_CPL_STRICT, now, &c, reason, err,
                                            sizeof(err)),
                         KM_EINPUT);
        assert_string_equal(reason, "missing_field:schema_version");
}

static void test_dlq_build(void **state)
{
        char *s;
        json_t *o;

        (void)state;
        s = km_dlq_build("invalid_utf8", "bad byte", "a\xff", 2,
                         json_pack("{s:s,s:i}", "file", "x.jsonl", "line", 3));
        o = json_loads(s, 0, NULL);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "reason")),
                            "invalid_utf8");
        assert_string_equal(
                json_string_value(json_object_get(o, "original_b64")), "Yf8=");
        assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(o, "origin"), "line")),
                         3);
        json_decref(o);
        free(s);
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

static int teardown(void **state)
{
        (void)state;
        km_conf_destroy(&conf);
        return 0;
}

static void test_channel_valid(void **state)
{
        static const char *const ok[] = {"phone", "telegram", "web",
                                         "app",   "social",   "email"};

        (void)state;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                assert_true(km_complaint_channel_valid(ok[i]));
        assert_false(km_complaint_channel_valid("unknown"));
        assert_false(km_complaint_channel_valid("Web"));
        assert_false(km_complaint_channel_valid(""));
        assert_false(km_complaint_channel_valid(NULL));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_too_long_and_large),
                cmocka_unit_test(test_canonical),
                cmocka_unit_test(test_strict_needs_id),
                cmocka_unit_test(test_dlq_build),
                cmocka_unit_test(test_channel_valid),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
