/*
 * test_an_parse.c - komek-analytics' reading of a message
 * (workers/analytics/analytics_parse.c), without broker or database:
 *
 *   - a complaint the model accepts with every optional member and its
 *     edges (escapes of every kind, a surrogate pair, Cyrillic and Kazakh
 *     text, a description of exactly the limit, members in another order,
 *     a non-canonical time) gets its row (it is counted), the fields the
 *     model extracted;
 *   - complaints the model rejects (among them ones the old private
 *     validator let through: no description, an unknown member, a lone
 *     surrogate in a text it did not read) are dead-lettered with the
 *     model's reason and detail, byte for byte;
 *   - dispatch, task-events and votes read by the shared scanner: valid
 *     messages, an escaped member name (jansson decides, same row), and
 *     the reasons of the bad ones.
 * Failures print got X, want Y.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../workers/analytics/analytics.h"
#include "km_util.h"

static struct km_conf conf;
static struct analytics_conf ac;
static struct analytics an;

/* analytics_parse over buf as a message of topic; m->row owned by the
 * caller (free). */
static void parse(int topic, const char *buf, size_t len, struct an_msg *m)
{
        static rd_kafka_message_t rkm;

        memset(&rkm, 0, sizeof(rkm));
        rkm.payload = (void *)buf;
        rkm.len = len;
        memset(m, 0, sizeof(*m));
        m->rkm = &rkm;
        m->topic = topic;
        analytics_parse(&an, m);
}

/* The complaint with everything: desc_chars code points of description. */
static char *full_complaint(size_t desc_chars)
{
        static const char head[] =
                "{\"emergency\":true,\"media_urls\":["
                "\"https://x.kz/1.jpg\",\"https://x.kz/2.jpg\","
                "\"https://x.kz/3.jpg\",\"https://x.kz/4.jpg\","
                "\"https://x.kz/5.jpg\",\"http://x.kz/6.jpg\","
                "\"https://x.kz/7.jpg\",\"https://x.kz/8.jpg\","
                "\"https://x.kz/9.jpg\",\"https:\\/\\/x.kz\\/10.jpg\"],"
                "\"contact\":{\"email\":\"a@b.kz\",\"phone\":\"+77010000000\","
                "\"name\":\"\\u0410\\u0439\\u0433\\u04af\\u043b\"},"
                "\"lat\":51.169392,\"long\":-0.5e1,"
                "\"building_id\":\"B_0123456789abcdefghij-KLMNOPQR\","
                "\"address\":{\"text\":\"\\u0443\\u043b. \\u041a\\u0435\\u043d\","
                "\"apartment\":\"12\\/3\",\"house\":\"7\\u0410\","
                "\"street\":\"Қабанбай батыр\",\"district\":\"Есиль\"},"
                "\"schema_version\":1,\"id\":\"%s\",\"source\":\"call109\","
                "\"external_id\":\"ext-\\u00e9-\\ud83d\\ude00\","
                "\"channel\":\"tele\\u0067ram\","
                "\"received_at\":\"2026-07-16T15:30:00.5+06:00\","
                "\"category\":\"h\\u0065ating\",\"description\":\"";
        /* 10 code points of escapes, then the rest as two-byte letters */
        static const char esc[] = "\\u0416\\ud83d\\ude00 \\\"q\\\" \\/ \\t";
        char id[KM_ID_LEN];
        size_t cap = sizeof(head) + 64 + sizeof(esc) + 2 * desc_chars + 8;
        char *s = km_xmalloc(cap), *o;

        km_id_derive("call109", "ext-\xc3\xa9-\xf0\x9f\x98\x80", id);
        o = s + snprintf(s, cap, head, id);
        memcpy(o, esc, sizeof(esc) - 1);
        o += sizeof(esc) - 1;
        for (size_t i = 10; i < desc_chars; i++) {
                memcpy(o, i % 2 ? "ж" : "ң", 2);
                o += 2;
        }
        memcpy(o, "\"}", 3);
        return s;
}

static void test_complaint_counted(void **state)
{
        char *in = full_complaint((size_t)conf.max_description_chars);
        char want[512], reason[KM_REASON_LEN], err[256];
        struct km_complaint *c = NULL;
        struct an_msg m;

        (void)state;
        /* the model accepts it, as the router does (strict) */
        if (km_complaint_parse(in, strlen(in), &conf, KM_CPL_STRICT,
                               km_wall_s(), &c, reason, err, sizeof(err)))
                fail_msg("model: got %s (%s), want accepted", reason, err);
        assert_int_equal(c->emergency, 1);
        assert_int_equal(c->has_contact, 1);
        snprintf(want, sizeof(want),
                 "%s\t2026-07-16T09:30:00Z\t2026-07-16\theating\ttelegram\t"
                 "call109\tB_0123456789abcdefghij-KLMNOPQR\tt\n",
                 c->id);
        km_complaint_destroy(c);
        parse(AN_T_COMPLAINTS, in, strlen(in), &m);
        if (m.row == NULL)
                fail_msg("analytics: got dead letter %s (%s), want a row",
                         m.reason, m.detail);
        if (strcmp(m.row, want) != 0 || m.rowlen != strlen(want))
                fail_msg("row: got %s, want %s", m.row, want);
        assert_int_equal(m.event_at, 1784194200); /* 2026-07-16T09:30:00Z */
        free(m.row);
        free(in);
}

#define BASE                                                                    \
        "\"schema_version\":1,\"id\":\"0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\"," \
        "\"source\":\"call109\",\"received_at\":\"2026-07-16T09:00:00Z\","      \
        "\"category\":\"heating\",\"address\":{\"text\":\"x\"}"

static void test_complaint_rejected(void **state)
{
        static const struct {
                const char *in;
                const char *want; /* the model's reason */
        } rows[] = {
                {"{" BASE "}", "missing_field:description"},
                {"{" BASE ",\"description\":\"d\",\"foo\":1}",
                 "unknown_field:foo"},
                {"{" BASE ",\"description\":\"\\ud83d\"}", "invalid_json"},
                {"{" BASE ",\"description\":\"d\",\"description\":\"e\"}",
                 "duplicate_key"},
                {"{" BASE ",\"description\":\"\xff\"}", "invalid_utf8"},
                {"{" BASE ",\"description\":\"d\",\"lat\":51}",
                 "invalid_field:lat"},
                {"{" BASE ",\"description\":\"d\",\"channel\":\"pigeon\"}",
                 "invalid_field:channel"},
                {"{\"schema_version\":1,\"source\":\"call109\",\"received_at\":"
                 "\"2026-07-16T09:00:00Z\",\"category\":\"heating\","
                 "\"description\":\"d\",\"address\":{\"text\":\"x\"}}",
                 "missing_field:id"},
                {"{" BASE ",\"description\":\"d\",\"external_id\":\"e1\"}",
                 "invalid_field:id"},
                {"{\"schema_version\":2}", "unsupported_schema_version"},
                {"not json {", "invalid_json"},
                {"", "invalid_json"},
                {"[1]", "wrong_type:root"},
        };
        char *big = full_complaint((size_t)conf.max_description_chars + 1);
        char *huge = km_xmalloc((size_t)conf.max_message_bytes + 2);

        (void)state;
        memset(huge, ' ', (size_t)conf.max_message_bytes + 1);
        huge[conf.max_message_bytes + 1] = '\0';
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]) + 2; i++) {
                const char *in = i < sizeof(rows) / sizeof(rows[0]) ? rows[i].in
                                 : i == sizeof(rows) / sizeof(rows[0]) ? big
                                                                       : huge;
                const char *want = i < sizeof(rows) / sizeof(rows[0])
                                           ? rows[i].want
                                   : in == big ? "too_long:description"
                                               : "too_large";
                char reason[KM_REASON_LEN] = "", err[256] = "";
                struct km_complaint *c = NULL;
                struct an_msg m;

                if (km_complaint_parse(in, strlen(in), &conf, KM_CPL_STRICT,
                                       km_wall_s(), &c, reason, err,
                                       sizeof(err)) != KM_EINPUT ||
                    strcmp(reason, want) != 0)
                        fail_msg("row %zu: model got %s, want %s", i, reason,
                                 want);
                parse(AN_T_COMPLAINTS, in, strlen(in), &m);
                if (m.row != NULL)
                        fail_msg("row %zu: analytics got a row, want %s", i,
                                 want);
                if (strcmp(m.reason, reason) || strcmp(m.detail, err))
                        fail_msg("row %zu: analytics got %s (%s), want %s "
                                 "(%s)",
                                 i, m.reason, m.detail, reason, err);
        }
        free(huge);
        free(big);
}

#define CID "\"0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\""
#define DSP                                                                    \
        "\"attempt\":2,\"org_id\":\"ksk-1\",\"org_kind\":\"ksk\","             \
        "\"category\":\"heating\",\"received_at\":\"2026-07-16T09:00:00Z\","   \
        "\"routed_at\":\"2026-07-16T09:00:01Z\",\"due_at\":"                   \
        "\"2026-07-17T09:00:00Z\",\"complaint\":{\"channel\":\"web\","         \
        "\"x\":[1,{\"y\":null}]}}"

static void test_other_topics(void **state)
{
        static const char dsp_row[] =
                "0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\t2\tksk-1\tksk\t\\N\t\\N\t"
                "heating\t\\N\t2026-07-16T09:00:00Z\t2026-07-16\t"
                "2026-07-16T09:00:01Z\t2026-07-17T09:00:00Z\tweb\n";
        static const struct {
                int topic;
                const char *in;
                const char *want; /* reason, or the row */
        } rows[] = {
                {AN_T_DISPATCH,
                 "{\"schema_version\":1,\"complaint_id\":" CID "," DSP,
                 dsp_row},
                /* escaped member names: the scanner leaves them to jansson */
                {AN_T_DISPATCH,
                 "{\"schema_version\":1,\"\\u0063omplaint_id\":" CID "," DSP,
                 dsp_row},
                {AN_T_DISPATCH,
                 "{\"schema_version\":1,\"complaint_id\":" CID
                 ",\"complaint\":{\"a\":1,\"a\":2}," DSP,
                 "invalid_json"},
                {AN_T_DISPATCH,
                 "{\"schema_version\":1,\"complaint_id\":\"nope\"}",
                 "invalid_field:complaint_id"},
                {AN_T_DISPATCH,
                 "{\"schema_version\":1,\"complaint_id\":" CID
                 ",\"attempt\":1.0}",
                 "wrong_type:attempt"},
                {AN_T_EVENTS,
                 "{\"schema_version\":1,\"event_id\":" CID
                 ",\"complaint_id\":" CID ",\"attempt\":1,"
                 "\"org_id\":\"ksk-1\",\"event\":\"resolved\","
                 "\"at\":\"2026-07-16T10:00:00+05:00\"}",
                 "0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\t"
                 "0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\t1\tksk-1\tresolved\t"
                 "2026-07-16T05:00:00Z\t\\N\n"},
                {AN_T_EVENTS,
                 "{\"schema_version\":1,\"event_id\":" CID
                 ",\"x\":\"\\ud800\"}",
                 "invalid_json"},
                {AN_T_VOTES,
                 "{\"schema_version\":1,\"vote_id\":" CID
                 ",\"ksk_id\":\"k\\u0073k-1\",\"month\":\"2026-07\","
                 "\"score\":5,\"voted_at\":\"2026-07-16T09:00:00Z\"}",
                 "0b3f1c52-6f1a-4d3e-9a70-6b6f6d656b31\tksk-1\t2026-07-01\t5\t"
                 "2026-07-16T09:00:00Z\n"},
                {AN_T_VOTES,
                 "{\"schema_version\":1,\"vote_id\":" CID
                 ",\"ksk_id\":\"ksk-1\",\"month\":\"2026-07\","
                 "\"score\":6,\"voted_at\":\"2026-07-16T09:00:00Z\"}",
                 "invalid_field:score"},
                {AN_T_VOTES, "{\"schema_version\":2}",
                 "unsupported_schema_version"},
                {AN_T_VOTES, "{\"schema_version\":1} x", "invalid_json"},
                {AN_T_VOTES, "", "invalid_json"},
        };

        (void)state;
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
                struct an_msg m;
                const char *got;

                parse(rows[i].topic, rows[i].in, strlen(rows[i].in), &m);
                got = m.row ? m.row : m.reason;
                if (strcmp(got, rows[i].want) != 0)
                        fail_msg("row %zu: got %s (%s), want %s", i, got,
                                 m.detail, rows[i].want);
                free(m.row);
        }
}

static int setup(void **state)
{
        char err[256];
        char *argv[] = {"test", NULL};

        (void)state;
        unsetenv("KOMEK_CONFIG");
        if (km_conf_main(&conf, "test", NULL, NULL, 1, argv, err, sizeof(err)))
                return -1;
        ac.utc_offset_hours = 5;
        an.conf = &conf;
        an.ac = &ac;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        km_conf_destroy(&conf);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_complaint_counted),
                cmocka_unit_test(test_complaint_rejected),
                cmocka_unit_test(test_other_topics),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
