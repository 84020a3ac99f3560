/*
 * test_kafka.c - round trips against the real broker (Kafka 3.9, KRaft)
 * through librdkafka 2.0.2: idempotent produce and consume; a consumer
 * group that commits and resumes where it stopped; a transactional
 * consume-transform-produce with send_offsets_to_transaction and commit,
 * then an aborted transaction that a read_committed reader never sees.
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
#include "km_test.h"
#include "km_util.h"

static struct km_conf conf;

static int produce_n(rd_kafka_t *rk, const char *topic, int n,
                     const char *prefix, struct km_kafka_counts *counts)
{
        char err[512], buf[64], key[16];

        for (int i = 0; i < n; i++) {
                snprintf(buf, sizeof(buf), "%s%d", prefix, i);
                snprintf(key, sizeof(key), "k%d", i % 7);
                if (km_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, buf,
                                     strlen(buf), counts, 10000, err,
                                     sizeof(err))) {
                        fprintf(stderr, "produce: %s\n", err);
                        return -1;
                }
        }
        return 0;
}

struct seen {
        int n;
        char vals[64][32];
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct seen *s = opaque;

        if (s->n < 64)
                snprintf(s->vals[s->n], sizeof(s->vals[0]), "%.*s",
                         (int)rkm->len, (const char *)rkm->payload);
        s->n++;
        return 0;
}

static void test_produce_consume(void **state)
{
        struct km_kafka_counts counts = {0};
        char topic[160], err[512];
        rd_kafka_t *rk;
        int got;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "rt", 3),
                         0);
        rk = km_kafka_producer_new(&conf, NULL, &counts, err, sizeof(err));
        if (rk == NULL)
                fail_msg("producer: %s", err);
        assert_int_equal(produce_n(rk, topic, 100, "m", &counts), 0);
        assert_int_equal(km_kafka_flush(rk, 30000, err, sizeof(err)), 0);
        assert_int_equal(counts.produced, 100);
        assert_int_equal(counts.delivered, 100);
        assert_int_equal(counts.failed, 0);
        rd_kafka_destroy(rk);
        /* the producer flushed and is gone: read to the end */
        got = (int)km_test_read_to_end(&conf, topic, "read_committed", 30000,
                                       NULL, NULL);
        if (got != 100)
                fail_msg("read %d messages, want 100", got);
}

/* Consume `take` messages in group, commit, close. */
static int group_take(const char *group, const char *topic, int take,
                      struct seen *s)
{
        char err[512];
        const char *topics[1] = {topic};
        rd_kafka_t *rk = km_kafka_consumer_new(&conf, group, NULL, NULL, err,
                                               sizeof(err));
        int64_t deadline = km_now_ms() + 30000;
        int n = 0;

        if (rk == NULL || km_kafka_subscribe(rk, topics, 1, err, sizeof(err)))
                return -1;
        while (n < take && km_now_ms() < deadline) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);

                if (rkm == NULL)
                        continue;
                if (rkm->err == 0) {
                        collect(rkm, s);
                        n++;
                        rd_kafka_offset_store(rkm->rkt, rkm->partition,
                                              rkm->offset);
                }
                rd_kafka_message_destroy(rkm);
        }
        if (n == take && rd_kafka_commit(rk, NULL, 0) != 0)
                n = -1;
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return n;
}

static void test_group_commit_resume(void **state)
{
        struct km_kafka_counts counts = {0};
        char topic[160], group[160], err[512];
        struct seen s1 = {0}, s2 = {0};
        rd_kafka_t *rk;

        (void)state;
        assert_int_equal(km_test_topic(&conf, topic, sizeof(topic), "grp", 1),
                         0);
        km_test_name(group, sizeof(group), "group");
        rk = km_kafka_producer_new(&conf, NULL, &counts, err, sizeof(err));
        assert_non_null(rk);
        assert_int_equal(produce_n(rk, topic, 10, "g", &counts), 0);
        assert_int_equal(km_kafka_flush(rk, 30000, err, sizeof(err)), 0);
        rd_kafka_destroy(rk);

        assert_int_equal(group_take(group, topic, 4, &s1), 4);
        assert_string_equal(s1.vals[0], "g0");
        assert_string_equal(s1.vals[3], "g3");
        /* a new member of the same group resumes at the committed offset */
        assert_int_equal(group_take(group, topic, 6, &s2), 6);
        assert_string_equal(s2.vals[0], "g4");
        assert_string_equal(s2.vals[5], "g9");
}

static void test_transactions(void **state)
{
        struct km_kafka_counts counts = {0}, tcounts = {0};
        char src[160], dst[160], group[160], txid[160], err[512];
        const char *topics[1];
        rd_kafka_t *prod, *cons, *txp;
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_consumer_group_metadata_t *cgmd;
        int64_t deadline;
        int n = 0, got_rc, got_ru;

        (void)state;
        assert_int_equal(km_test_topic(&conf, src, sizeof(src), "src", 1), 0);
        assert_int_equal(km_test_topic(&conf, dst, sizeof(dst), "dst", 2), 0);
        km_test_name(group, sizeof(group), "txgroup");
        km_test_name(txid, sizeof(txid), "txid");
        prod = km_kafka_producer_new(&conf, NULL, &counts, err, sizeof(err));
        assert_non_null(prod);
        assert_int_equal(produce_n(prod, src, 5, "in", &counts), 0);
        assert_int_equal(km_kafka_flush(prod, 30000, err, sizeof(err)), 0);
        rd_kafka_destroy(prod);

        txp = km_kafka_producer_new(&conf, txid, &tcounts, err, sizeof(err));
        if (txp == NULL)
                fail_msg("transactional producer: %s", err);
        cons = km_kafka_consumer_new(&conf, group, NULL, NULL, err,
                                     sizeof(err));
        assert_non_null(cons);
        topics[0] = src;
        assert_int_equal(km_kafka_subscribe(cons, topics, 1, err, sizeof(err)),
                         0);

        /* consume-transform-produce, offsets sent to the transaction */
        assert_int_equal(km_kafka_txn_err(rd_kafka_begin_transaction(txp),
                                          "begin", err, sizeof(err)),
                         0);
        offsets = rd_kafka_topic_partition_list_new(1);
        deadline = km_now_ms() + 30000;
        while (n < 5 && km_now_ms() < deadline) {
                rd_kafka_message_t *rkm = rd_kafka_consumer_poll(cons, 200);
                char out[64];

                if (rkm == NULL)
                        continue;
                if (rkm->err == 0) {
                        snprintf(out, sizeof(out), "OUT-%.*s", (int)rkm->len,
                                 (const char *)rkm->payload);
                        assert_int_equal(km_kafka_produce(txp, dst,
                                                          RD_KAFKA_PARTITION_UA,
                                                          "k", out, strlen(out),
                                                          &tcounts, 10000, err,
                                                          sizeof(err)),
                                         0);
                        rd_kafka_topic_partition_list_add(
                                offsets, rd_kafka_topic_name(rkm->rkt),
                                rkm->partition)
                                ->offset = rkm->offset + 1;
                        n++;
                }
                rd_kafka_message_destroy(rkm);
        }
        assert_int_equal(n, 5);
        cgmd = rd_kafka_consumer_group_metadata(cons);
        /* the list may hold the partition 5 times: keep the last */
        {
                rd_kafka_topic_partition_list_t *last =
                        rd_kafka_topic_partition_list_new(1);

                rd_kafka_topic_partition_list_add(last, src, 0)->offset = 5;
                assert_int_equal(
                        km_kafka_txn_err(rd_kafka_send_offsets_to_transaction(
                                                 txp, last, cgmd, 30000),
                                         "send_offsets", err, sizeof(err)),
                        0);
                rd_kafka_topic_partition_list_destroy(last);
        }
        rd_kafka_consumer_group_metadata_destroy(cgmd);
        rd_kafka_topic_partition_list_destroy(offsets);
        if (km_kafka_txn_err(rd_kafka_commit_transaction(txp, 30000), "commit",
                             err, sizeof(err)))
                fail_msg("%s", err);

        /* an aborted transaction: written to the log, never visible */
        assert_int_equal(km_kafka_txn_err(rd_kafka_begin_transaction(txp),
                                          "begin", err, sizeof(err)),
                         0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(km_kafka_produce(txp, dst,
                                                  RD_KAFKA_PARTITION_UA, "k",
                                                  "ABORTED", 7, &tcounts, 10000,
                                                  err, sizeof(err)),
                                 0);
        assert_int_equal(km_kafka_flush(txp, 30000, err, sizeof(err)), 0);
        assert_int_equal(
                km_kafka_txn_err(rd_kafka_abort_transaction(txp, 30000),
                                 "abort", err, sizeof(err)),
                0);

        /* the group's committed offset moved with the transaction */
        {
                rd_kafka_topic_partition_list_t *c =
                        rd_kafka_topic_partition_list_new(1);

                rd_kafka_topic_partition_list_add(c, src, 0);
                assert_int_equal(rd_kafka_committed(cons, c, 10000), 0);
                assert_int_equal(c->elems[0].offset, 5);
                rd_kafka_topic_partition_list_destroy(c);
        }
        rd_kafka_consumer_close(cons);
        rd_kafka_destroy(cons);
        rd_kafka_destroy(txp);

        {
                struct seen s = {0};

                got_rc = (int)km_test_read_to_end(&conf, dst, "read_committed",
                                                  30000, collect, &s);
                for (int i = 0; i < s.n && i < 64; i++)
                        if (strcmp(s.vals[i], "ABORTED") == 0)
                                fail_msg("read_committed saw an aborted "
                                         "message");
        }
        /* read_uncommitted proves the aborted records are in the log */
        got_ru = (int)km_test_read_to_end(&conf, dst, "read_uncommitted", 30000,
                                          NULL, NULL);
        if (got_rc != 5 || got_ru != 8)
                fail_msg("read_committed got %d (want 5), read_uncommitted got "
                         "%d (want 8)",
                         got_rc, got_ru);
}

static int setup(void **state)
{
        (void)state;
        return km_test_conf(&conf);
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
                cmocka_unit_test(test_produce_consume),
                cmocka_unit_test(test_group_commit_resume),
                cmocka_unit_test(test_transactions),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
