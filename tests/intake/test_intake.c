/*
 * test_intake.c - komek-intake and komek-vote against the real broker:
 * every rejection reason reaches complaints.dlq with its reason, file and
 * line; valid records reach complaints keyed by building id (else id);
 * CSV with a BOM, CRLF, quoted commas, "" and a line break inside quotes;
 * a broker that is not there: waits the bounded time, exits 1 and says
 * how many were not delivered; a quiet pipe's records are published while
 * it stays open; SIGTERM while reading publishes every record read and
 * exits 0; votes hashed, duplicates skipped, and the
 * raw resident id found nowhere on either topic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "km_id.h"
#include "km_test.h"
#include "km_util.h"

static struct km_conf conf;
static char tmpdir[256];

#define VALID(ext, extra)                                                              \
        "{\"source\":\"call109\",\"external_id\":\"" ext "\","                         \
        "\"received_at\":\"2025-01-10T08:00:00Z\",\"category\":\"heating\","           \
        "\"description\":\"Нет отопления\",\"address\":{\"text\":\"ул. " \
        "Кенесары 12\"}" extra "}"

struct msgs {
        int n;
        json_t *all; /* array of {key, value (parsed)} */
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct msgs *m = opaque;
        json_t *v = json_loadb(rkm->payload, rkm->len, 0, NULL);
        json_t *h = json_object();
        rd_kafka_headers_t *hdrs = NULL;
        const char *name;
        const void *val;
        size_t vlen;

        /* the headers, by name (the last of a name wins) */
        if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
                for (size_t i = 0;
                     rd_kafka_header_get_all(hdrs, i, &name, &val, &vlen) ==
                     RD_KAFKA_RESP_ERR_NO_ERROR;
                     i++)
                        json_object_set_new(
                                h, name,
                                json_stringn(val ? val : "", val ? vlen : 0));
        json_array_append_new(m->all,
                              json_pack("{s:s%, s:o, s:o}", "key",
                                        rkm->key ? (const char *)rkm->key : "",
                                        rkm->key ? rkm->key_len : 0, "value",
                                        v ? v : json_null(), "headers", h));
        m->n++;
        return 0;
}

/* A header of a collected message, or "". */
static const char *header(json_t *m, const char *name)
{
        const char *s = json_string_value(
                json_object_get(json_object_get(m, "headers"), name));

        return s ? s : "";
}

static void write_file(const char *path, const char *data, size_t len)
{
        FILE *fp = fopen(path, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(data, 1, len, fp), len);
        fclose(fp);
}

static int run(const char *prog, const char *topic, const char *dlq,
               const char *extra, const char *file, const char *log)
{
        char *cmd = km_xasprintf(
                "%s/komek-%s --config %s/deploy/komek.conf --set "
                "topics.complaints=%s --set topics.votes=%s --set topics.dlq=%s "
                "%s %s >%s 2>&1",
                getenv("KOMEK_BIN"), prog, getenv("KOMEK_ROOT"), topic, topic,
                dlq, extra, file, log);
        int st = system(cmd);

        free(cmd);
        return WEXITSTATUS(st);
}

static char *slurp(const char *path)
{
        FILE *fp = fopen(path, "rb");
        char *buf = km_xcalloc(1, 65536);

        if (fp) {
                size_t n = fread(buf, 1, 65535, fp);

                buf[n] = '\0';
                fclose(fp);
        }
        return buf;
}

static json_t *find_reason(json_t *all, const char *reason)
{
        size_t i;
        json_t *m;

        json_array_foreach (all, i, m) {
                json_t *v = json_object_get(m, "value");

                if (!strcmp(json_string_value(json_object_get(v, "reason")),
                            reason))
                        return v;
        }
        return NULL;
}

/* The whole collected message ({key, value, headers}) of a reason. */
static json_t *find_message(json_t *all, const char *reason)
{
        size_t i;
        json_t *m;

        json_array_foreach (all, i, m) {
                json_t *v = json_object_get(m, "value");

                if (!strcmp(json_string_value(json_object_get(v, "reason")),
                            reason))
                        return m;
        }
        return NULL;
}

static void test_jsonl_reasons(void **state)
{
        static const struct {
                const char *line, *reason;
        } rows[] = {
                {"not json", "invalid_json"},
                {"{\"description\":\"\xff\xfe\"}", "invalid_utf8"},
                {VALID("d1", ",\"source\":\"x\""), "duplicate_key"},
                {VALID("t1", ",\"foo\":1"), "unknown_field:foo"},
                {"{\"source\":\"call109\",\"received_at\":"
                 "\"2025-01-10T08:00:00Z\",\"category\":\"heating\","
                 "\"address\":{\"text\":\"x\"}}",
                 "missing_field:description"},
                {"{\"source\":\"call109\",\"received_at\":"
                 "\"2025-01-10T08:00:00Z\",\"category\":\"teleport\","
                 "\"description\":\"d\",\"address\":{\"text\":\"x\"}}",
                 "unknown_category"},
                {"{\"source\":\"call109\",\"received_at\":\"someday\","
                 "\"category\":\"heating\",\"description\":\"d\","
                 "\"address\":{\"text\":\"x\"}}",
                 "invalid_field:received_at"},
                {VALID("w1", ",\"emergency\":\"yes\""), "wrong_type:emergency"},
                {VALID("s1", ",\"schema_version\":9"),
                 "unsupported_schema_version"},
        };
        char topic[160], dlq[160], path[300], log[300], *in, *out;
        struct msgs ok = {0, json_array()}, bad = {0, json_array()};
        size_t off = 0, cap = 400000;
        int n = (int)(sizeof(rows) / sizeof(rows[0]));
        char want_id[KM_ID_LEN];

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "in", 3),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "dlq", 1), 0);
        in = km_xmalloc(cap);
        /* line 1: BOM + valid with building id; line 2 blank */
        off += (size_t)snprintf(in + off, cap - off, "\xEF\xBB\xBF%s\n\n",
                                VALID("ok1", ",\"building_id\":\"b-000042\""));
        for (int i = 0; i < n; i++) /* lines 3 .. n+2 */
                off += (size_t)snprintf(in + off, cap - off, "%s\r\n",
                                        rows[i].line);
        /* too_long:description, then too_large, then a valid one */
        off += (size_t)snprintf(in + off, cap - off,
                                "{\"source\":\"call109\",\"received_at\":"
                                "\"2025-01-10T08:00:00Z\",\"category\":"
                                "\"heating\",\"address\":{\"text\":\"x\"},"
                                "\"description\":\"");
        for (int i = 0; i < 4001; i++)
                in[off++] = 'a';
        off += (size_t)snprintf(in + off, cap - off, "\"}\n{\"x\":\"");
        for (int i = 0; i < 70000; i++)
                in[off++] = 'b';
        off += (size_t)snprintf(in + off, cap - off, "\"}\n%s\n",
                                VALID("ok2", ""));
        snprintf(path, sizeof(path), "%s/reasons.jsonl", tmpdir);
        snprintf(log, sizeof(log), "%s/reasons.log", tmpdir);
        write_file(path, in, off);
        free(in);

        assert_int_equal(run("intake", topic, dlq, "", path, log), 0);
        out = slurp(log);
        assert_non_null(strstr(out, "read 13, published 2, dead-lettered 11"));
        assert_non_null(strstr(out, "not delivered 0, blank 1"));
        free(out);

        assert_int_equal(km_test_read_to_end(&conf, dlq, "read_committed",
                                             30000, collect, &bad),
                         n + 2);
        for (int i = 0; i < n; i++) {
                json_t *v = find_reason(bad.all, rows[i].reason);
                json_t *msg = find_message(bad.all, rows[i].reason);
                char want[400];

                if (v == NULL)
                        fail_msg("reason %s not on the DLQ", rows[i].reason);
                /* Kafka Connect's error headers and komek's file origin */
                snprintf(want, sizeof(want), "%s: ", rows[i].reason);
                if (strncmp(header(msg, "__connect.errors.exception.message"),
                            want, strlen(want)) != 0)
                        fail_msg("%s: exception.message header \"%s\"",
                                 rows[i].reason,
                                 header(msg, "__connect.errors.exception."
                                             "message"));
                snprintf(want, sizeof(want), "komek.%s", rows[i].reason);
                assert_string_equal(
                        header(msg, "__connect.errors.exception.class.name"),
                        want);
                assert_string_equal(header(msg, "__connect.errors.connector."
                                                "name"),
                                    "komek-intake");
                assert_string_equal(header(msg, "komek.origin.file"), path);
                snprintf(want, sizeof(want), "%d", i + 3);
                assert_string_equal(header(msg, "komek.origin.line"), want);
                snprintf(want, sizeof(want), "%s:%d", path, i + 3);
                assert_string_equal(
                        json_string_value(json_object_get(msg, "key")), want);
                assert_string_equal(
                        json_string_value(json_object_get(
                                json_object_get(v, "origin"), "file")),
                        path);
                if (json_integer_value(json_object_get(
                            json_object_get(v, "origin"), "line")) != i + 3)
                        fail_msg("%s: line %lld, want %d", rows[i].reason,
                                 (long long)json_integer_value(json_object_get(
                                         json_object_get(v, "origin"), "line")),
                                 i + 3);
        }
        assert_non_null(find_reason(bad.all, "too_long:description"));
        assert_non_null(find_reason(bad.all, "too_large"));
        /* the original bytes travel with the reason */
        assert_string_equal(
                json_string_value(json_object_get(
                        find_reason(bad.all, "invalid_json"), "original")),
                "not json");
        assert_non_null(json_object_get(find_reason(bad.all, "invalid_utf8"),
                                        "original_b64"));

        assert_int_equal(km_test_read_to_end(&conf, topic, "read_committed",
                                             30000, collect, &ok),
                         2);
        for (int i = 0; i < 2; i++) {
                json_t *m = json_array_get(ok.all, (size_t)i);
                json_t *v = json_object_get(m, "value");
                const char *ext =
                        json_string_value(json_object_get(v, "external_id"));

                km_id_derive("call109", ext, want_id);
                assert_string_equal(json_string_value(json_object_get(v, "id")),
                                    want_id);
                assert_string_equal(
                        json_string_value(json_object_get(m, "key")),
                        strcmp(ext, "ok1") == 0 ? "b-000042" : want_id);
        }
        json_decref(ok.all);
        json_decref(bad.all);
}

static void test_csv(void **state)
{
        static const char csv[] =
                "\xEF\xBB\xBF"
                "external_id,source,channel,received_at,category,description,"
                "district,street,house,apartment,address_text,building_id,lat,"
                "long,contact_name,contact_phone,emergency\r\n"
                /* line 2: quotes, commas, "" and a CRLF inside quotes */
                "C-1,webform,web,2025-02-01T10:00:00Z,water_supply,\"Нет воды, "
                "\"\"совсем\"\"\r\nс утра\",Нура,ул. Иманова,5,12,,b-000002,51.1,"
                "71.4,Иван,+77011234567,true\r\n"
                /* line 4: address only as text, no building */
                "C-2,webform,app,2025-02-01T11:00:00Z,lift,Лифт стоит,,,,,"
                "\"пр. Республики, 5\",,,,,,false\r\n"
                /* line 5: a quote inside an unquoted field */
                "C-3,webform,web,2025-02-01T10:00:00Z,heating,bad\"quote,,,,,x,,,,,,\r\n"
                /* line 6: too few fields */
                "C-4,webform,web\r\n"
                /* line 7: lat not a number */
                "C-5,webform,web,2025-02-01T10:00:00Z,heating,d,,,,,x,,north,71,,,\r\n"
                /* line 8: unknown category; line 9 blank */
                "C-6,webform,web,2025-02-01T10:00:00Z,teleport,d,,,,,x,,,,,,\r\n"
                "\r\n"
                /* line 10: unterminated quote to the end */
                "C-7,webform,web,2025-02-01T10:00:00Z,heating,\"open,,,,,x,,,,,,\r\n";
        static const struct {
                const char *reason;
                int line;
        } want[] = {{"invalid_csv", 5},
                    {"invalid_csv", 6},
                    {"wrong_type:lat", 7},
                    {"unknown_category", 8},
                    {"invalid_csv", 10}};
        char topic[160], dlq[160], path[300], log[300], *out;
        struct msgs ok = {0, json_array()}, bad = {0, json_array()};
        json_t *v, *c1 = NULL, *c2 = NULL;
        size_t i;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "csv", 2),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "csvdlq", 1),
                         0);
        snprintf(path, sizeof(path), "%s/in.csv", tmpdir);
        snprintf(log, sizeof(log), "%s/csv.log", tmpdir);
        write_file(path, csv, sizeof(csv) - 1);
        assert_int_equal(run("intake", topic, dlq, "", path, log), 0);
        out = slurp(log);
        assert_non_null(strstr(out, "read 7, published 2, dead-lettered 5"));
        free(out);
        assert_int_equal(km_test_read_to_end(&conf, topic, "read_committed",
                                             30000, collect, &ok),
                         2);
        json_array_foreach (ok.all, i, v) {
                json_t *val = json_object_get(v, "value");

                if (!strcmp(json_string_value(
                                    json_object_get(val, "external_id")),
                            "C-1"))
                        c1 = val;
                else
                        c2 = val;
        }
        assert_non_null(c1);
        assert_non_null(c2);
        assert_string_equal(
                json_string_value(json_object_get(c1, "description")),
                "Нет воды, \"совсем\"\r\nс утра");
        assert_string_equal(
                json_string_value(json_object_get(c1, "building_id")),
                "b-000002");
        assert_string_equal(
                json_string_value(json_object_get(
                        json_object_get(c1, "address"), "apartment")),
                "12");
        assert_true(json_is_true(json_object_get(c1, "emergency")));
        assert_true(json_real_value(json_object_get(c1, "lat")) > 51.09);
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(c1, "contact"), "phone")),
                            "+77011234567");
        assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(c2, "address"), "text")),
                            "пр. Республики, 5");
        assert_true(json_is_false(json_object_get(c2, "emergency")));

        assert_int_equal(km_test_read_to_end(&conf, dlq, "read_committed",
                                             30000, collect, &bad),
                         5);
        for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
                int found = 0;

                json_array_foreach (bad.all, i, v) {
                        json_t *val = json_object_get(v, "value");
                        json_t *o = json_object_get(val, "origin");

                        if (!strcmp(json_string_value(
                                            json_object_get(val, "reason")),
                                    want[k].reason) &&
                            json_integer_value(json_object_get(o, "line")) ==
                                    want[k].line)
                                found = 1;
                }
                if (!found)
                        fail_msg("no %s at line %d on the DLQ", want[k].reason,
                                 want[k].line);
        }
        json_decref(ok.all);
        json_decref(bad.all);
}

/* Nothing listens on port 1: the records wait delivery_timeout_ms, then
 * the program exits 1 saying how many were not delivered. */
/* A pipe that goes quiet: the records read so far are published at once,
 * not when a batch fills or the input ends (komek-intake still runs, its
 * stdin open, while they arrive). */
static void test_idle_pipe(void **state)
{
        char topic[160], dlq[160], log[300], *cmd;
        struct msgs ok = {0, json_array()};
        FILE *fp;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "idle", 1),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "idledlq", 1),
                         0);
        snprintf(log, sizeof(log), "%s/idle.log", tmpdir);
        cmd = km_xasprintf(
                "%s/komek-intake --config %s/deploy/komek.conf --set "
                "topics.complaints=%s --set topics.dlq=%s - >%s 2>&1",
                getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"), topic, dlq, log);
        fp = popen(cmd, "w");
        free(cmd);
        assert_non_null(fp);
        fprintf(fp, "%s\n%s\n", VALID("idle1", ""), VALID("idle2", ""));
        fflush(fp);
        /* both arrive while the pipe stays open */
        assert_int_equal(km_test_read_topic(&conf, topic, "read_committed", 2,
                                            30000, 0, collect, &ok),
                         2);
        assert_int_equal(WEXITSTATUS(pclose(fp)), 0);
        json_decref(ok.all);
}

/* SIGTERM in the middle of a stream: reading stops, but every record
 * already read (batches being validated or produced included) is
 * published, and the exit status is 0. */
static void test_sigterm(void **state)
{
        char topic[160], dlq[160], fifo[300], log[300], *out, *p, *line;
        char *argv[12];
        struct msgs ok = {0, json_array()};
        long long nread = -1, npub = -2;
        int pid, fd, st;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "term", 3),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "termdlq", 1),
                         0);
        snprintf(fifo, sizeof(fifo), "%s/term.jsonl", tmpdir);
        snprintf(log, sizeof(log), "%s/term.log", tmpdir);
        assert_int_equal(mkfifo(fifo, 0600), 0);
        argv[0] = km_xasprintf("%s/komek-intake", getenv("KOMEK_BIN"));
        argv[1] = "--config";
        argv[2] = km_xasprintf("%s/deploy/komek.conf", getenv("KOMEK_ROOT"));
        argv[3] = "--set";
        argv[4] = km_xasprintf("topics.complaints=%s", topic);
        argv[5] = "--set";
        argv[6] = km_xasprintf("topics.dlq=%s", dlq);
        argv[7] = "--progress=false";
        argv[8] = fifo;
        argv[9] = NULL;
        pid = km_test_spawn(argv, NULL, log);
        assert_true(pid > 0);
        fd = open(fifo, O_WRONLY);
        assert_true(fd >= 0);
        /* 20,000 records: more than a pipe holds and the pool's batches */
        for (int i = 0; i < 20000; i++) {
                line = km_xasprintf("{\"source\":\"call109\",\"external_id\":"
                                    "\"term%d\",\"received_at\":"
                                    "\"2025-01-10T08:00:00Z\",\"category\":"
                                    "\"heating\",\"description\":\"d\","
                                    "\"address\":{\"text\":\"x\"}}\n",
                                    i);
                assert_int_equal(write(fd, line, strlen(line)),
                                 (ssize_t)strlen(line));
                free(line);
        }
        kill(pid, SIGTERM);
        close(fd);
        st = km_test_wait(pid, 0, 60000);
        assert_int_equal(st, 0);
        out = slurp(log);
        p = strstr(out, "read ");
        assert_non_null(p);
        assert_int_equal(sscanf(p, "read %lld, published %lld", &nread, &npub),
                         2);
        assert_int_equal(nread, npub);
        assert_true(nread > 0);
        assert_non_null(strstr(out, "not delivered 0"));
        free(out);
        assert_int_equal(km_test_read_to_end(&conf, topic, "read_committed",
                                             30000, collect, &ok),
                         (int)npub);
        json_decref(ok.all);
        free(argv[0]);
        free(argv[2]);
        free(argv[4]);
        free(argv[6]);
}

static void test_broker_away(void **state)
{
        char path[300], log[300], *out, *in = NULL;
        size_t off = 0;
        int64_t t0;
        int rc;

        (void)state;
        snprintf(path, sizeof(path), "%s/away.jsonl", tmpdir);
        snprintf(log, sizeof(log), "%s/away.log", tmpdir);
        for (int i = 0; i < 5; i++) {
                char *line = km_xasprintf("%s\n", VALID("a", ""));

                in = km_xrealloc(in, off + strlen(line) + 1);
                memcpy(in + off, line, strlen(line) + 1);
                off += strlen(line);
                free(line);
        }
        write_file(path, in, off);
        free(in);
        t0 = km_now_ms();
        rc = run("intake", "komek-test-never", "komek-test-never-dlq",
                 "--brokers 127.0.0.1:1 --delivery-timeout-ms 2000", path, log);
        assert_int_equal(rc, 1);
        /* bounded: 2 s of retries, not librdkafka's default 5 minutes */
        assert_true(km_now_ms() - t0 < 15000);
        out = slurp(log);
        if (strstr(out, "5 record(s) were not delivered") == NULL ||
            strstr(out, "not delivered 5") == NULL)
                fail_msg("summary does not count 5 undelivered: %s", out);
        free(out);
}

/* A dead letter of a file's line carries Kafka Connect's exception
 * headers and komek's file and line headers; counts those that do. */
static int file_dlq_headers(const rd_kafka_message_t *rkm, void *opaque)
{
        static const char *const want[] = {
                "__connect.errors.exception.message",
                "__connect.errors.exception.class.name",
                "__connect.errors.stage",
                "__connect.errors.connector.name",
                "komek.origin.file",
                "komek.origin.line",
                NULL};
        rd_kafka_headers_t *h = NULL;
        const void *val;
        size_t len;
        int all =
                rd_kafka_message_headers(rkm, &h) == RD_KAFKA_RESP_ERR_NO_ERROR;

        for (int i = 0; all && want[i]; i++)
                all = rd_kafka_header_get_last(h, want[i], &val, &len) ==
                              RD_KAFKA_RESP_ERR_NO_ERROR &&
                      len > 0;
        *(int *)opaque += all;
        return 0;
}

static void test_votes(void **state)
{
        static const char votes[] =
                "{\"ksk_id\":\"ksk-0001\",\"resident\":\"RES-SECRET-1\","
                "\"month\":\"2025-07\",\"score\":4,\"voted_at\":"
                "\"2025-07-14T09:00:00Z\"}\n"
                "{\"ksk_id\":\"ksk-0001\",\"resident\":\"RES-SECRET-1\","
                "\"month\":\"2025-07\",\"score\":1,\"voted_at\":"
                "\"2025-07-20T09:00:00Z\"}\n"
                "{\"ksk_id\":\"ksk-0001\",\"resident\":\"RES-SECRET-2\","
                "\"month\":\"2025-07\",\"score\":5,\"voted_at\":"
                "\"2025-07-14T09:00:00Z\"}\n"
                "{\"ksk_id\":\"ksk-0002\",\"resident\":\"RES-SECRET-3\","
                "\"month\":\"2025-07\",\"score\":9,\"voted_at\":"
                "\"2025-07-14T09:00:00Z\"}\n"
                "RES-SECRET-4 not json\n";
        char topic[160], dlq[160], path[300], log[300], *out, *s;
        struct msgs ok = {0, json_array()}, bad = {0, json_array()};

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "votes", 2),
                         0);
        assert_int_equal(km_test_topic(&conf, dlq, sizeof(dlq), "vdlq", 1), 0);
        snprintf(path, sizeof(path), "%s/votes.jsonl", tmpdir);
        snprintf(log, sizeof(log), "%s/votes.log", tmpdir);
        write_file(path, votes, sizeof(votes) - 1);
        assert_int_equal(run("vote", topic, dlq,
                             "--set vote.salt=test-salt-0123456789", path, log),
                         0);
        out = slurp(log);
        assert_non_null(strstr(out, "read 5, published 2, duplicates 1, "
                                    "dead-lettered 2"));
        assert_null(strstr(out, "RES-SECRET"));
        free(out);
        assert_int_equal(km_test_read_to_end(&conf, topic, "read_committed",
                                             30000, collect, &ok),
                         2);
        assert_int_equal(km_test_read_to_end(&conf, dlq, "read_committed",
                                             30000, collect, &bad),
                         2);
        assert_non_null(find_reason(bad.all, "invalid_field:score"));
        assert_non_null(find_reason(bad.all, "invalid_json"));
        {
                int with = 0;

                assert_int_equal(km_test_read_to_end(&conf, dlq,
                                                     "read_committed", 30000,
                                                     file_dlq_headers, &with),
                                 2);
                assert_int_equal(with, 2);
        }
        s = json_dumps(ok.all, 0);
        assert_null(strstr(s, "RES-SECRET"));
        assert_non_null(strstr(s, "\"score\": 4")); /* the first vote kept */
        assert_int_equal(
                strlen(json_string_value(json_object_get(
                        json_object_get(json_array_get(ok.all, 0), "value"),
                        "resident_hash"))),
                64);
        free(s);
        s = json_dumps(bad.all, 0);
        assert_null(strstr(s, "RES-SECRET"));
        free(s);
        json_decref(ok.all);
        json_decref(bad.all);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_jsonl_reasons),
                cmocka_unit_test(test_csv),
                cmocka_unit_test(test_idle_pipe),
                cmocka_unit_test(test_sigterm),
                cmocka_unit_test(test_broker_away),
                cmocka_unit_test(test_votes),
        };
        char tmpl[] = "/tmp/komek-test-intake-XXXXXX";
        int r;

        if (km_test_conf(&conf))
                return 1;
        if (mkdtemp(tmpl) == NULL)
                return 1;
        snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        if (r == 0) {
                char *cmd = km_xasprintf("rm -rf %s", tmpdir);

                if (system(cmd) != 0)
                        r = 1;
                free(cmd);
        }
        km_conf_destroy(&conf);
        return r;
}
