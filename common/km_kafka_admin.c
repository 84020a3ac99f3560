/*
 * km_kafka_admin.c - topics through librdkafka's admin API: create with a
 * partition count, a replication factor and min.insync.replicas, and check
 * an existing topic against them (komek-admin topics, the tests' topics).
 * A topic with fewer partitions or replicas than configured, or another
 * min.insync.replicas, is reported, never silently accepted: on a cluster
 * a topic created by hand with one replica would lose data on the first
 * broker failure, and komek could not tell.
 */
#include "km_kafka.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "km_log.h"
#include "km_util.h"

struct km_admin {
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        struct km_kafka_counts counts;
        int64_t deadline;
};

static int km_admin_open(struct km_admin *a, const struct km_conf *conf,
                         int timeout_ms, char *err, size_t errlen)
{
        rd_kafka_conf_t *kc;
        char errstr[512];

        memset(a, 0, sizeof(*a));
        a->deadline = km_now_ms() + timeout_ms + 5000;
        kc = km_kafka_conf_new(conf, &a->counts, err, errlen);
        if (kc == NULL)
                return KM_ECONFIG;
        a->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, errstr, sizeof(errstr));
        if (a->rk == NULL) {
                rd_kafka_conf_destroy(kc);
                return km_err_set(err, errlen, KM_EFATAL, "admin: %s", errstr);
        }
        a->q = rd_kafka_queue_new(a->rk);
        return 0;
}

static void km_admin_close(struct km_admin *a)
{
        if (a->q)
                rd_kafka_queue_destroy(a->q);
        if (a->rk)
                rd_kafka_destroy(a->rk);
}

/* The answer to the request just sent, or NULL with err set.  Waits in
 * slices, serving error_cb: a wrong password or an untrusted certificate
 * fails now, not at the timeout. */
static rd_kafka_event_t *km_admin_wait(struct km_admin *a, const char *what,
                                       char *err, size_t errlen)
{
        rd_kafka_event_t *ev;

        while ((ev = rd_kafka_queue_poll(a->q, 100)) == NULL &&
               km_now_ms() < a->deadline) {
                rd_kafka_poll(a->rk, 0);
                if (a->counts.fatal) {
                        km_err_set(err, errlen, KM_EFATAL, "%s: %s", what,
                                   a->counts.fatal_reason);
                        return NULL;
                }
        }
        if (ev == NULL) {
                km_err_set(err, errlen, KM_ERETRY, "%s: no answer%s%s", what,
                           a->counts.last_error[0] ? "; last error: " : "",
                           a->counts.last_error);
                return NULL;
        }
        if (rd_kafka_event_error(ev)) {
                km_err_set(err, errlen, KM_ERETRY, "%s: %s", what,
                           rd_kafka_event_error_string(ev));
                rd_kafka_event_destroy(ev);
                return NULL;
        }
        return ev;
}

static rd_kafka_AdminOptions_t *
km_admin_opts(struct km_admin *a, rd_kafka_admin_op_t op, int timeout_ms)
{
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(a->rk, op);
        char errstr[256];

        rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, errstr,
                                                  sizeof(errstr));
        if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
                rd_kafka_AdminOptions_set_operation_timeout(
                        o, timeout_ms, errstr, sizeof(errstr));
        return o;
}

static int km_admin_create(struct km_admin *a, const char *name, int partitions,
                           int replicas, int min_isr, int timeout_ms, char *err,
                           size_t errlen)
{
        rd_kafka_NewTopic_t *nt;
        rd_kafka_AdminOptions_t *opts;
        rd_kafka_event_t *ev;
        char errstr[512], num[16], what[300];
        int r = 0;

        nt = rd_kafka_NewTopic_new(name, partitions, replicas, errstr,
                                   sizeof(errstr));
        if (nt == NULL)
                return km_err_set(err, errlen, KM_EINPUT, "topic %s: %s", name,
                                  errstr);
        if (min_isr > 0) {
                snprintf(num, sizeof(num), "%d", min_isr);
                rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", num);
        }
        opts = km_admin_opts(a, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
        rd_kafka_CreateTopics(a->rk, &nt, 1, opts, a->q);
        snprintf(what, sizeof(what), "create topic %s", name);
        ev = km_admin_wait(a, what, err, errlen);
        if (ev == NULL) {
                r = KM_ERETRY;
        } else {
                size_t n = 0;
                const rd_kafka_topic_result_t **tr =
                        rd_kafka_CreateTopics_result_topics(
                                rd_kafka_event_CreateTopics_result(ev), &n);

                for (size_t i = 0; i < n && r == 0; i++) {
                        rd_kafka_resp_err_t e =
                                rd_kafka_topic_result_error(tr[i]);

                        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                                r = km_err_set(
                                        err, errlen, KM_EFATAL,
                                        "create topic %s (%d partitions, %d "
                                        "replicas): %s",
                                        name, partitions, replicas,
                                        rd_kafka_topic_result_error_string(
                                                tr[i]));
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_NewTopic_destroy(nt);
        return r;
}

/* The topic's min.insync.replicas into *out (0 when not answered). */
static int km_admin_min_isr(struct km_admin *a, const char *name,
                            int timeout_ms, int *out, char *err, size_t errlen)
{
        rd_kafka_ConfigResource_t *res =
                rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
        rd_kafka_AdminOptions_t *opts =
                km_admin_opts(a, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
        rd_kafka_event_t *ev;
        char what[300];
        int r = 0;

        *out = 0;
        rd_kafka_DescribeConfigs(a->rk, &res, 1, opts, a->q);
        snprintf(what, sizeof(what), "describe topic %s", name);
        ev = km_admin_wait(a, what, err, errlen);
        if (ev == NULL) {
                r = KM_ERETRY;
        } else {
                size_t nres = 0, ncf = 0;
                const rd_kafka_ConfigResource_t **rs =
                        rd_kafka_DescribeConfigs_result_resources(
                                rd_kafka_event_DescribeConfigs_result(ev),
                                &nres);

                for (size_t i = 0; i < nres; i++) {
                        const rd_kafka_ConfigEntry_t **ce =
                                rd_kafka_ConfigResource_configs(rs[i], &ncf);

                        for (size_t j = 0; j < ncf; j++)
                                if (strcmp(rd_kafka_ConfigEntry_name(ce[j]),
                                           "min.insync.replicas") == 0 &&
                                    rd_kafka_ConfigEntry_value(ce[j]))
                                        *out = atoi(rd_kafka_ConfigEntry_value(
                                                ce[j]));
                }
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_ConfigResource_destroy(res);
        return r;
}

int km_kafka_topic_ensure(const struct km_conf *conf, const char *name,
                          int partitions, int replicas, int min_isr,
                          int timeout_ms, struct km_topic_state *st, char *err,
                          size_t errlen)
{
        struct km_admin a;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = NULL;
        rd_kafka_resp_err_t e;
        int r;

        memset(st, 0, sizeof(*st));
        r = km_admin_open(&a, conf, timeout_ms, err, errlen);
        if (r)
                return r;
        r = km_admin_create(&a, name, partitions, replicas, min_isr, timeout_ms,
                            err, errlen);
        if (r)
                goto cleanup;
        /* what the cluster holds now, created or found */
        rkt = rd_kafka_topic_new(a.rk, name, NULL);
        for (;;) {
                e = rd_kafka_metadata(a.rk, 0, rkt, &md, timeout_ms);
                if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
                    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    md->topics[0].partition_cnt > 0)
                        break;
                if (md)
                        rd_kafka_metadata_destroy(md);
                md = NULL;
                if (km_now_ms() >= a.deadline) {
                        r = km_err_set(err, errlen, KM_ERETRY,
                                       "topic %s: no metadata: %s", name,
                                       rd_kafka_err2str(e));
                        goto cleanup;
                }
                rd_kafka_poll(a.rk, 200); /* a new topic's metadata lags */
        }
        st->partitions = md->topics[0].partition_cnt;
        for (int i = 0; i < md->topics[0].partition_cnt; i++) {
                const rd_kafka_metadata_partition_t *p =
                        &md->topics[0].partitions[i];

                if (i == 0 || p->replica_cnt < st->min_replicas)
                        st->min_replicas = p->replica_cnt;
                if (i == 0 || p->isr_cnt < st->min_isr_now)
                        st->min_isr_now = p->isr_cnt;
        }
        /* a topic just created may not answer its configuration yet */
        while ((r = km_admin_min_isr(&a, name, timeout_ms, &st->min_isr_config,
                                     err, errlen)) == 0 &&
               min_isr > 0 && st->min_isr_config == 0 &&
               km_now_ms() < a.deadline)
                rd_kafka_poll(a.rk, 200);
        if (r)
                goto cleanup;
        if (st->partitions < partitions)
                r = km_err_set(err, errlen, KM_ECONFIG,
                               "topic %s has %d partitions, configured %d "
                               "(add them with kafka-topics --alter)",
                               name, st->partitions, partitions);
        else if (st->min_replicas < replicas)
                r = km_err_set(err, errlen, KM_ECONFIG,
                               "topic %s has %d replicas, configured %d "
                               "(kafka-reassign-partitions adds them)",
                               name, st->min_replicas, replicas);
        else if (min_isr > 0 && st->min_isr_config != min_isr)
                r = km_err_set(err, errlen, KM_ECONFIG,
                               "topic %s has min.insync.replicas=%d, "
                               "configured %d (kafka-configs --alter)",
                               name, st->min_isr_config, min_isr);
cleanup:
        if (md)
                rd_kafka_metadata_destroy(md);
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        km_admin_close(&a);
        return r;
}

int km_kafka_topic_create(const struct km_conf *conf, const char *name,
                          int partitions, int timeout_ms, char *err,
                          size_t errlen)
{
        struct km_admin a;
        int r = km_admin_open(&a, conf, timeout_ms, err, errlen);

        if (r == 0)
                r = km_admin_create(&a, name, partitions, 1, 0, timeout_ms, err,
                                    errlen);
        km_admin_close(&a);
        return r;
}
