/*
 * groups.c - komek-groups, a helper of tests/ops/test_scaleout.sh (not a
 * test): describe a consumer group with librdkafka's admin API and print
 * one line per member, "<host> <partitions of TOPIC it holds>".
 * usage: komek-groups BROKERS GROUP TOPIC     exit 0, or 1 on an error
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
        const rd_kafka_DescribeConsumerGroups_result_t *res;
        const rd_kafka_ConsumerGroupDescription_t **gs;
        rd_kafka_AdminOptions_t *opts;
        rd_kafka_event_t *ev;
        rd_kafka_queue_t *q;
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char errstr[512];
        size_t n = 0;
        int rc = 1;

        if (argc != 4) {
                fprintf(stderr, "usage: komek-groups BROKERS GROUP TOPIC\n");
                return 2;
        }
        kc = rd_kafka_conf_new();
        if (rd_kafka_conf_set(kc, "bootstrap.servers", argv[1], errstr,
                              sizeof(errstr)) != RD_KAFKA_CONF_OK ||
            (rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr,
                               sizeof(errstr))) == NULL) {
                fprintf(stderr, "komek-groups: %s\n", errstr);
                return 1;
        }
        opts = rd_kafka_AdminOptions_new(
                rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        rd_kafka_AdminOptions_set_request_timeout(opts, 10000, errstr,
                                                  sizeof(errstr));
        q = rd_kafka_queue_new(rk);
        rd_kafka_DescribeConsumerGroups(rk, (const char **)&argv[2], 1, opts,
                                        q);
        ev = rd_kafka_queue_poll(q, 15000);
        if (ev == NULL || rd_kafka_event_error(ev)) {
                fprintf(stderr, "komek-groups: %s\n",
                        ev ? rd_kafka_event_error_string(ev) : "no answer");
                goto cleanup;
        }
        res = rd_kafka_event_DescribeConsumerGroups_result(ev);
        gs = rd_kafka_DescribeConsumerGroups_result_groups(res, &n);
        for (size_t i = 0; i < n; i++) {
                size_t nm =
                        rd_kafka_ConsumerGroupDescription_member_count(gs[i]);

                if (rd_kafka_ConsumerGroupDescription_error(gs[i]))
                        goto cleanup;
                for (size_t j = 0; j < nm; j++) {
                        const rd_kafka_MemberDescription_t *m =
                                rd_kafka_ConsumerGroupDescription_member(gs[i],
                                                                         j);
                        const rd_kafka_topic_partition_list_t *p =
                                rd_kafka_MemberAssignment_partitions(
                                        rd_kafka_MemberDescription_assignment(
                                                m));
                        int cnt = 0;

                        for (int k = 0; p && k < p->cnt; k++)
                                cnt += strcmp(p->elems[k].topic, argv[3]) == 0;
                        printf("%s %d\n", rd_kafka_MemberDescription_host(m),
                               cnt);
                }
        }
        rc = 0;
cleanup:
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_destroy(rk);
        return rc;
}
