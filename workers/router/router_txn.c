/*
 * router_txn.c - the Kafka transaction of one batch: begin on the first
 * message, send the consumed offsets to it and commit (every batch_size
 * messages or batch_ms), or abort and rewind the consumer to the committed
 * offsets so the batch is processed again.  Partitions are revoked only
 * after the open transaction committed (or aborted), so a rebalance loses
 * and doubles nothing (librdkafka examples/transactions.c).
 */
#include <string.h>

#include "km_log.h"
#include "km_util.h"
#include "router.h"

static void router_txn_reset(struct router *r)
{
        router_dedup_aborted(r); /* no-op after router_dedup_committed */
        r->in_txn = 0;
        r->batch_n = 0;
        if (r->offsets)
                rd_kafka_topic_partition_list_destroy(r->offsets);
        r->offsets = NULL;
}

int router_txn_begin(struct router *r, char *err, size_t errlen)
{
        int rc;

        if (r->in_txn)
                return 0;
        rc = km_kafka_txn_err(rd_kafka_begin_transaction(r->producer),
                              "begin_transaction", err, errlen);
        if (rc)
                return rc;
        r->in_txn = 1;
        r->batch_n = 0;
        r->batch_start_ms = km_now_ms();
        r->offsets = rd_kafka_topic_partition_list_new(8);
        return 0;
}

int router_txn_commit(struct router *r, char *err, size_t errlen)
{
        int timeout = (int)r->rc->txn_timeout_ms, rc = 0;
        int64_t t0;

        if (!r->in_txn)
                return 0;
        /* the routed complaints left: checked for duplicates, produced */
        rc = router_dedup_flush(r, err, errlen);
        if (rc)
                return rc;
        t0 = km_now_ms(); /* the commit stage: send_offsets + commit */
        if (r->offsets->cnt > 0) {
                rd_kafka_consumer_group_metadata_t *cgmd =
                    rd_kafka_consumer_group_metadata(r->consumer);

                rc = km_kafka_txn_err(rd_kafka_send_offsets_to_transaction(
                                          r->producer, r->offsets, cgmd,
                                          timeout),
                                      "send_offsets_to_transaction", err,
                                      errlen);
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                if (rc)
                        return rc;
        }
        /* a commit that timed out is committed again, never aborted */
        rc = km_kafka_txn_commit(r->producer, timeout, 5, err, errlen);
        if (rc)
                return rc;
        km_log_debug("committed a batch of %lld message(s)",
                     (long long)r->batch_n);
        r->st.batches++;
        r->failures = 0;
        r->last_commit_ms = km_now_ms();
        router_metrics_committed(r, t0);
        router_dedup_committed(r); /* remembered only now */
        router_txn_reset(r);
        return 0;
}

void router_txn_abort(struct router *r, int rewind)
{
        char err[512];

        if (r->in_txn) {
                int rc = km_kafka_txn_err(
                    rd_kafka_abort_transaction(r->producer,
                                               (int)r->rc->txn_timeout_ms),
                    "abort_transaction", err, sizeof(err));

                if (rc == KM_ERETRY) /* may be retried (librdkafka docs) */
                        rc = km_kafka_txn_err(
                            rd_kafka_abort_transaction(
                                r->producer, (int)r->rc->txn_timeout_ms),
                            "abort_transaction", err, sizeof(err));
                if (rc) {
                        km_log_error("%s", err);
                        r->fatal = 1;
                }
                km_log_warn("aborted a batch of %lld message(s)",
                            (long long)r->batch_n);
                r->st.aborts++;
                r->failures++;
                router_metrics_aborted(r);
        }
        router_txn_reset(r);
        if (rewind && !r->fatal) {
                rd_kafka_topic_partition_list_t *a = NULL;

                if (rd_kafka_assignment(r->consumer, &a) == 0 && a->cnt > 0 &&
                    km_kafka_rewind(r->consumer, err, sizeof(err)))
                        km_log_warn("rewind: %s", err);
                if (a)
                        rd_kafka_topic_partition_list_destroy(a);
        }
}

void router_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct router *r = opaque;
        int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
        char err[512];
        rd_kafka_error_t *error = NULL;

        switch (e) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                km_log_info("assigned %d partition(s)", parts->cnt);
                r->last_msg_ms = km_now_ms(); /* idle counts from here */
                if (coop)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        rd_kafka_assign(rk, parts);
                break;
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
                int aborted = 0;

                km_log_info("revoking %d partition(s)", parts->cnt);
                if (r->in_txn) {
                        if (rd_kafka_assignment_lost(rk) ||
                            router_txn_commit(r, err, sizeof(err))) {
                                if (!rd_kafka_assignment_lost(rk))
                                        km_log_warn("commit before revoke: %s",
                                                    err);
                                router_txn_abort(r, 0);
                                aborted = 1;
                        }
                }
                if (coop)
                        error = rd_kafka_incremental_unassign(rk, parts);
                else
                        rd_kafka_assign(rk, NULL);
                if (aborted && coop) /* partitions we keep: redo them */
                        router_txn_abort(r, 1);
                break;
        }
        default:
                km_log_error("rebalance: %s", rd_kafka_err2str(e));
                rd_kafka_assign(rk, NULL);
                break;
        }
        if (error) {
                km_log_error("rebalance: %s", rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        }
}
