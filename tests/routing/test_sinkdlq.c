/*
 * test_sinkdlq.c - komek-tasksink never skips a message (issue 11): a
 * dispatch message it cannot parse becomes exactly one dead letter on the
 * DLQ topic, with its origin (topic, partition, offset), its reason and
 * Kafka Connect's error headers; no task is written, the stored offset
 * moves past it, and /metrics counts it as outcome="dlq".  The same for
 * a valid dispatch message whose row PostgreSQL refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_test.h"
#include "km_util.h"
#include "rt.h"
#include "km_test_metrics.h"

static struct rt t;
static int sink_pid;

struct got {
        int n;
        json_t *body;
        char hdr[8][160]; /* the Connect headers, in the order below */
};

static const char *const hdr_names[7] = {
        "__connect.errors.topic",
        "__connect.errors.partition",
        "__connect.errors.offset",
        "__connect.errors.exception.message",
        "__connect.errors.exception.class.name",
        "__connect.errors.stage",
        "__connect.errors.connector.name",
};

static int on_dlq(const rd_kafka_message_t *rkm, void *opaque)
{
        struct got *g = opaque;
        rd_kafka_headers_t *hdrs = NULL;

        g->n++;
        json_decref(g->body);
        g->body = json_loadb(rkm->payload, rkm->len, 0, NULL);
        if (rd_kafka_message_headers(rkm, &hdrs) == 0) {
                for (int i = 0; i < 7; i++) {
                        const void *v;
                        size_t len;

                        g->hdr[i][0] = '\0';
                        if (rd_kafka_header_get_last(hdrs, hdr_names[i], &v,
                                                     &len) == 0)
                                snprintf(g->hdr[i], sizeof(g->hdr[i]), "%.*s",
                                         (int)len, (const char *)v);
                }
        }
        return 0;
}

/* Produce msg to dispatch, run the sink and check its one dead letter. */
static void check_dead_letter(const char *msg, const char *reason,
                              const char *stage)
{
        char group[200], pf[512], pfset[600], series[512], sql[512], want[160];
        const char *extra[] = {
                "--set", group, "--set", "tasksink.metrics_port=-1",
                "--set", pfset, NULL};
        struct got g;
        int mport, partition;
        long long offset;
        json_t *origin;

        memset(&g, 0, sizeof(g));
        assert_int_equal(rt_produce_raw(&t, t.dispatch, "k", msg, strlen(msg)),
                         0);
        snprintf(group, sizeof(group), "tasksink.group=%s-sink", t.schema);
        snprintf(pf, sizeof(pf), "%s/sink.mport", t.logdir);
        snprintf(pfset, sizeof(pfset), "tasksink.metrics_port_file=%s", pf);
        sink_pid = rt_spawn(&t, "tasksink", extra, NULL, 0);
        assert_true(sink_pid > 0);
        mport = km_test_metrics_port(pf, sink_pid, 60000);
        assert_true(mport > 0);
        /* exactly one dead letter: the sink stores the offset past the
         * message only after the dead letter's ack, so once it moved the
         * dead-letter topic holds all there will be; read to its end */
        snprintf(sql, sizeof(sql),
                 "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                 "WHERE topic = '%s'",
                 t.dispatch);
        assert_int_equal(rt_wait_count(&t, sql, 1, 30000), 1);
        assert_int_equal(km_test_read_to_end(&t.conf, t.dlq, "read_committed",
                                             30000, on_dlq, &g),
                         1);
        assert_int_equal(g.n, 1);
        assert_non_null(g.body);
        assert_string_equal(
                json_string_value(json_object_get(g.body, "reason")), reason);
        assert_string_equal(
                json_string_value(json_object_get(g.body, "original")), msg);
        origin = json_object_get(g.body, "origin");
        assert_string_equal(json_string_value(json_object_get(origin, "topic")),
                            t.dispatch);
        partition =
                (int)json_integer_value(json_object_get(origin, "partition"));
        offset = (long long)json_integer_value(
                json_object_get(origin, "offset"));
        assert_int_equal(offset, 0);
        /* Kafka Connect's error headers */
        assert_string_equal(g.hdr[0], t.dispatch);
        snprintf(want, sizeof(want), "%d", partition);
        assert_string_equal(g.hdr[1], want);
        assert_string_equal(g.hdr[2], "0");
        snprintf(want, sizeof(want), "%s: ", reason);
        assert_true(strncmp(g.hdr[3], want, strlen(want)) == 0);
        snprintf(want, sizeof(want), "komek.%s", reason);
        assert_string_equal(g.hdr[4], want);
        assert_string_equal(g.hdr[5], stage);
        assert_string_equal(g.hdr[6], "komek-tasksink");
        /* no task; the stored offset moved past the message */
        snprintf(sql, sizeof(sql),
                 "SELECT next_offset FROM consumer_offsets WHERE topic = '%s' "
                 "AND partition = %d",
                 t.dispatch, partition);
        assert_int_equal(rt_wait_count(&t, sql, 1, 30000), 1);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), 0);
        snprintf(series, sizeof(series),
                 "komek_messages_total{topic=\"%s\",outcome=\"dlq\","
                 "reason=\"%s\"}",
                 t.dispatch, reason);
        assert_true(km_test_wait_metric(mport, series, 1, 30000) == 1);
        json_decref(g.body);
        assert_int_equal(km_test_wait(sink_pid, SIGTERM, 30000), 0);
        sink_pid = 0;
}

static void test_unparsable_dispatch(void **state)
{
        (void)state;
        check_dead_letter("{not a dispatch message", "invalid_dispatch",
                          "VALUE_CONVERTER");
}

/* Valid for the sink's parser, refused by PostgreSQL: year 0000 is not a
 * timestamptz (SQLSTATE 22008). */
static void test_refused_row(void **state)
{
        (void)state;
        check_dead_letter(
                "{\"schema_version\":1,\"complaint_id\":"
                "\"3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a\",\"attempt\":1,"
                "\"org_id\":\"triage\",\"org_kind\":\"triage\","
                "\"building_id\":null,\"district\":null,\"category\":\"heating\","
                "\"received_at\":\"0000-03-01T10:00:00Z\","
                "\"routed_at\":\"2026-03-01T10:00:01Z\","
                "\"due_at\":\"2026-03-02T10:00:00Z\","
                "\"route_reason\":\"unknown_building\",\"complaint\":"
                "{\"description\":\"d\"}}",
                "refused", "TASK_PUT");
}

static int setup(void **state)
{
        (void)state;
        sink_pid = 0;
        return rt_setup(&t, "sdlq");
}

static int teardown(void **state)
{
        (void)state;
        if (sink_pid > 0)
                km_test_wait(sink_pid, SIGKILL, 5000);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_unparsable_dispatch, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_refused_row, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
