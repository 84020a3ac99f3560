/*
 * test_notify_msg.c - what komek-notify sends, without a network: the
 * webhook signature against a pinned vector (the one docs/notify.md gives
 * receivers), the webhook body, the e-mail (headers, Message-ID from the
 * event id, Russian and Kazakh, the inbox link, base64 lines) and a
 * digest's Message-ID, which does not depend on the order of its rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../workers/notify/notify.h"

static struct km_category cats[1] = {
        {"heating", "ksk", "Отопление", "Heating", 24}};
static struct km_conf conf;
static struct notify_conf nc;
static struct notify n;

static struct notify_row row(char *event_id, char *cid)
{
        struct notify_row r;

        memset(&r, 0, sizeof(r));
        r.id = "1";
        r.event_id = event_id;
        r.kind = "new";
        r.complaint_id = cid;
        r.attempt = "1";
        r.org_id = "ksk-1";
        r.channel = "email";
        r.target = "dispatch@bereke.kz";
        r.category = "heating";
        r.district = "Есиль";
        r.building_id = NULL;
        r.routed_at = "2026-12-01T10:00:00Z";
        r.due_at = "2026-12-02T10:00:00Z";
        return r;
}

static int setup(void **state)
{
        (void)state;
        conf.ncategories = 1;
        conf.categories = cats;
        nc.inbox_url = "https://inbox.example";
        nc.mail_from = "komek@komek.test";
        n.conf = &conf;
        n.nc = &nc;
        return 0;
}

/* The body of the message: the base64 after the blank line, decoded. */
static char *mail_body(const char *msg)
{
        const char *p = strstr(msg, "\r\n\r\n");
        size_t cap = strlen(msg), len = 0;
        char *out = calloc(1, cap + 1);

        assert_non_null(p);
        for (p += 4; *p;) {
                const char *e = strstr(p, "\r\n");
                int m;

                assert_non_null(e);
                m = EVP_DecodeBlock((unsigned char *)out + len,
                                    (const unsigned char *)p, (int)(e - p));
                assert_true(m >= 0);
                assert_true(e - p <= 76);
                len += (size_t)m;
                /* EVP_DecodeBlock counts the padding's zero bytes */
                while (len > 0 && out[len - 1] == '\0')
                        len--;
                p = e + 2;
        }
        out[len] = '\0';
        return out;
}

static void test_signature_vector(void **state)
{
        char sig[72];

        (void)state;
        /* Python: hmac.new(secret, b"1767225600." + body, sha256) */
        notify_sign("7f3c9a1e2b8d4c6f0a5e", "1767225600",
                    "{\"event_id\":\"x\"}", sig);
        assert_string_equal(sig, "sha256=0c3431b235754a45beaf764ecec9da80"
                                 "0039da35d6c042651f712537fd869501");
}

static void test_webhook_body(void **state)
{
        struct notify_row r = row("9e107d9d-372b-b682-6d7b-7a7d2d5f1b3c",
                                  "3f2b9c1e-0000-4000-8000-000000000001");
        char *b;

        (void)state;
        r.channel = "webhook";
        r.urgent = 1;
        b = notify_webhook_body(&n, &r);
        assert_string_equal(
                b,
                "{\"schema_version\":1,\"event_id\":\"9e107d9d-372b-b682-6d7b-"
                "7a7d2d5f1b3c\",\"event\":\"task.new\",\"task\":{\"complaint_"
                "id\":\"3f2b9c1e-0000-4000-8000-000000000001\",\"attempt\":1,"
                "\"org_id\":\"ksk-1\",\"category\":\"heating\",\"district\":"
                "\"Есиль\",\"building_id\":null,\"routed_at\":\"2026-12-01T10:"
                "00:00Z\",\"due_at\":\"2026-12-02T10:00:00Z\",\"urgent\":true,"
                "\"url\":\"https://inbox.example/tasks/3f2b9c1e-0000-4000-8000-"
                "000000000001\"}}");
        free(b);
}

static void test_mail_one(void **state)
{
        struct notify_row r = row("9e107d9d-372b-b682-6d7b-7a7d2d5f1b3c",
                                  "3f2b9c1e-0000-4000-8000-000000000001");
        struct notify_row *rows[1] = {&r};
        char msgid[128], *msg, *body;

        (void)state;
        msg = notify_mail_build(&n, rows, 1, msgid);
        assert_string_equal(
                msgid, "<9e107d9d-372b-b682-6d7b-7a7d2d5f1b3c@komek-notify>");
        assert_non_null(strstr(msg, "\r\nMessage-ID: <9e107d9d-372b-b682-6d7b-"
                                    "7a7d2d5f1b3c@komek-notify>\r\n"));
        assert_non_null(strstr(msg, "\r\nTo: dispatch@bereke.kz\r\n"));
        assert_non_null(strstr(msg, "From: komek@komek.test\r\n"));
        assert_non_null(strstr(msg, "\r\nSubject: =?UTF-8?B?"));
        assert_non_null(strstr(msg, "charset=UTF-8"));
        body = mail_body(msg);
        assert_non_null(strstr(body, "Новая заявка для вашей организации"));
        assert_non_null(strstr(body, "Ұйымыңызға жаңа өтініш түсті"));
        assert_non_null(strstr(body, "Отопление"));
        assert_non_null(strstr(body, "https://inbox.example/tasks/"
                                     "3f2b9c1e-0000-4000-8000-000000000001"));
        free(body);
        free(msg);
}

static void test_digest_msgid(void **state)
{
        struct notify_row a = row("00000000-0000-4000-8000-00000000000a",
                                  "3f2b9c1e-0000-4000-8000-00000000000a"),
                          b = row("00000000-0000-4000-8000-00000000000b",
                                  "3f2b9c1e-0000-4000-8000-00000000000b");
        struct notify_row *ab[2] = {&a, &b}, *ba[2] = {&b, &a}, *one[1] = {&a};
        char m1[128], m2[128], m3[128], *x, *y, *z, *body;

        (void)state;
        x = notify_mail_build(&n, ab, 2, m1);
        y = notify_mail_build(&n, ba, 2, m2);
        z = notify_mail_build(&n, one, 1, m3);
        assert_string_equal(m1, m2);
        assert_true(strncmp(m1, "<digest-", 8) == 0);
        assert_int_equal(strlen(m1), strlen("<digest-@komek-notify>") + 32);
        assert_string_not_equal(m1, m3);
        body = mail_body(x);
        assert_non_null(strstr(body, "Новые заявки: 2"));
        assert_non_null(strstr(body, "Жаңа өтініштер: 2"));
        assert_non_null(
                strstr(body, "tasks/3f2b9c1e-0000-4000-8000-00000000000a"));
        assert_non_null(
                strstr(body, "tasks/3f2b9c1e-0000-4000-8000-00000000000b"));
        free(body);
        free(x);
        free(y);
        free(z);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_signature_vector),
                cmocka_unit_test(test_webhook_body),
                cmocka_unit_test(test_mail_one),
                cmocka_unit_test(test_digest_msgid),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
