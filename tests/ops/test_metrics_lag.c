/*
 * test_metrics_lag.c - consumer lag gauges against the real broker: a
 * consumer reads part of a two-partition topic, then
 * km_metrics_kafka_lag (cached watermarks - position) must report exactly
 * what is left in each partition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_kafka.h"
#include "km_metrics.h"
#include "km_test.h"
#include "km_util.h"

static struct km_conf conf;

static void quiet_error_cb(rd_kafka_t *rk, int code, const char *reason,
                           void *opaque)
{
        (void)rk;
        (void)opaque;
        fprintf(stderr, "kafka: %s: %s\n", rd_kafka_err2name(code), reason);
}

static void produce(const char *topic, int32_t partition, int n)
{
        struct km_kafka_counts counts = {0};
        char err[512];
        rd_kafka_t *rk =
                km_kafka_producer_new(&conf, NULL, &counts, err, sizeof(err));

        assert_non_null(rk);
        for (int i = 0; i < n; i++)
                assert_int_equal(km_kafka_produce(rk, topic, partition, NULL,
                                                  "x", 1, &counts, 10000, err,
                                                  sizeof(err)),
                                 0);
        assert_int_equal(km_kafka_flush(rk, 30000, err, sizeof(err)), 0);
        assert_int_equal(counts.delivered, n);
        rd_kafka_destroy(rk);
}

static int has_line(struct km_metrics *m, const char *line)
{
        char *text = km_metrics_render(m);
        int r = strstr(text, line) != NULL;

        free(text);
        return r;
}

static void test_lag(void **state)
{
        struct km_metrics *mp = km_metrics_new("komek-test");
        char topic[160], group[160], err[512], line[2][256];
        rd_kafka_topic_partition_list_t *parts;
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        int64_t last[2] = {-1, -1}, deadline;
        const int n[2] = {10, 4};
        int got = 0;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "lag", 2),
                         0);
        produce(topic, 0, n[0]);
        produce(topic, 1, n[1]);

        kc = km_kafka_conf_new(&conf, NULL, err, sizeof(err));
        assert_non_null(kc);
        km_test_name(group, sizeof(group), "lag");
        assert_int_equal(
                rd_kafka_conf_set(kc, "group.id", group, err, sizeof(err)),
                RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(kc, "isolation.level",
                                           "read_committed", err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
        rd_kafka_conf_set_error_cb(kc, quiet_error_cb);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        assert_non_null(rk);
        rd_kafka_poll_set_consumer(rk);
        parts = rd_kafka_topic_partition_list_new(2);
        rd_kafka_topic_partition_list_add(parts, topic, 0)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(parts, topic, 1)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        assert_int_equal(rd_kafka_assign(rk, parts), 0);

        /* read at least one message of each partition and 5 in all */
        deadline = km_now_ms() + 30000;
        while (km_now_ms() < deadline &&
               !(got >= 5 && last[0] >= 0 && last[1] >= 0)) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);

                if (rkm && rkm->err == 0) {
                        last[rkm->partition] = rkm->offset;
                        got++;
                }
                if (rkm)
                        rd_kafka_message_destroy(rkm);
        }
        assert_true(got >= 5);
        /* stop: messages already fetched are dropped, the position stays */
        assert_int_equal(rd_kafka_pause_partitions(rk, parts), 0);
        for (int p = 0; p < 2; p++)
                snprintf(line[p], sizeof(line[p]),
                         "komek_consumer_lag{topic=\"%s\",partition=\"%d\"} "
                         "%lld\n",
                         topic, p, (long long)(n[p] - (last[p] + 1)));
        assert_true(n[0] - (last[0] + 1) + n[1] - (last[1] + 1) > 0);

        assert_int_equal(km_metrics_kafka_lag(mp, rk, err, sizeof(err)), 0);
        if (!has_line(mp, line[0]) || !has_line(mp, line[1])) {
                char *text = km_metrics_render(mp);

                fail_msg("kafka_lag: want '%s' and '%s' in:\n%s", line[0],
                         line[1], text);
        }

        rd_kafka_topic_partition_list_destroy(parts);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        km_metrics_destroy(mp);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lag),
        };
        int r;

        if (km_test_conf(&conf))
                return 1;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        km_conf_destroy(&conf);
        return r;
}
