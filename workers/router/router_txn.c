/*
 * router_txn.c - the Kafka transaction of one batch.  A batch opens on
 * its first message; its routed complaints and dead letters wait in
 * router_dedup.c and are produced into its transaction (begun on the
 * first produce) every ROUTER_FLUSH_N of them and when it commits.  The
 * commit (send the consumed offsets to the transaction, commit it) runs
 * in a thread of its own, so the next batch is consumed, parsed and
 * routed meanwhile; that batch produces nothing until the commit is
 * done, so every message belongs to exactly one transaction, with the
 * offsets of the messages it came from.  One commit runs at a time: a
 * batch that is full waits for the previous commit; one that is only
 * old (router.batch_ms) starts its own when that one is done.
 *
 * A failed commit, or any failure while one runs, aborts: the running
 * commit is waited for, its transaction aborted if it did not commit,
 * the open batch forgotten, and the consumer rewound to the committed
 * offsets, so both batches are processed again.  Partitions are revoked
 * only after the open transaction committed (or aborted), so a
 * rebalance loses and doubles nothing (librdkafka examples/
 * transactions.c).
 */
#include <string.h>

#include "km_log.h"
#include "km_util.h"
#include "router.h"

/* The open batch is forgotten (its consumed offsets with it). */
static void router_txn_reset(struct router *r)
{
        router_dedup_aborted(r);
        r->in_txn = 0;
        r->batch_n = 0;
        if (r->offsets)
                rd_kafka_topic_partition_list_destroy(r->offsets);
        r->offsets = NULL;
}

void router_txn_open(struct router *r)
{
        if (r->in_txn)
                return;
        r->in_txn = 1;
        r->batch_n = 0;
        r->batch_start_ms = km_now_ms();
        r->offsets = rd_kafka_topic_partition_list_new(8);
}

/* The open batch's Kafka transaction, begun before its first produce
 * (never while a commit runs: that one is still the producer's). */
static int router_txn_begin(struct router *r, char *err, size_t errlen)
{
        int rc;

        if (r->txn_begun)
                return 0;
        rc = km_kafka_txn_err(rd_kafka_begin_transaction(r->producer),
                              "begin_transaction", err, errlen);
        if (rc)
                return rc;
        r->txn_begun = 1;
        return 0;
}

int router_txn_produce(struct router *r, int force, char *err, size_t errlen)
{
        int rc;

        if (r->cm.running || r->dd.npend == 0 ||
            (!force && !router_dedup_due(r)))
                return 0;
        if ((rc = router_txn_begin(r, err, errlen)))
                return rc;
        return router_dedup_flush(r, err, errlen);
}

/* The commit thread: only the producer and what cm owns. */
static void *router_txn_thread(void *arg)
{
        struct router_commit *cm = arg;
        int64_t t0 = router_now_us(), t1;
        int rc = 0;

        if (cm->offsets->cnt > 0)
                rc = km_kafka_txn_err(rd_kafka_send_offsets_to_transaction(
                                              cm->producer, cm->offsets,
                                              cm->cgmd, cm->timeout_ms),
                                      "send_offsets_to_transaction", cm->err,
                                      sizeof(cm->err));
        t1 = router_now_us();
        cm->offsets_us = t1 - t0;
        /* a commit that timed out is committed again, never aborted */
        if (rc == 0)
                rc = km_kafka_txn_commit(cm->producer, cm->timeout_ms, 5,
                                         cm->err, sizeof(cm->err));
        cm->endtxn_us = router_now_us() - t1;
        cm->rc = rc;
        atomic_store(&cm->done, 1);
        return NULL;
}

int router_txn_commit_start(struct router *r, char *err, size_t errlen)
{
        struct router_commit *cm = &r->cm;
        int64_t t0;
        int rc;

        /* the full batch's duplicate query while the last commit runs */
        if (cm->running && r->in_txn)
                router_dedup_check(r);
        t0 = router_now_us();
        rc = router_txn_commit_wait(r, 1, err, errlen);
        r->st.wait_us += router_now_us() - t0;
        if (rc)
                return rc;
        if (!r->in_txn)
                return 0;
        /* the routed complaints left: checked for duplicates, produced;
         * a batch of duplicates only still commits its offsets */
        if ((rc = router_txn_produce(r, 1, err, errlen)) ||
            (rc = router_txn_begin(r, err, errlen)))
                return rc;
        cm->t0 = km_now_ms(); /* the commit stage: send_offsets + commit */
        cm->producer = r->producer;
        cm->timeout_ms = (int)r->rc->txn_timeout_ms;
        cm->offsets = r->offsets;
        r->offsets = NULL;
        cm->cgmd = rd_kafka_consumer_group_metadata(r->consumer);
        cm->batch_n = r->batch_n;
        cm->batch_start_ms = r->batch_start_ms;
        router_metrics_handover(r, cm);
        router_dedup_handover(r, cm);
        r->in_txn = 0;
        r->batch_n = 0;
        cm->rc = 0;
        cm->err[0] = '\0';
        atomic_store(&cm->done, 0);
        cm->running = 1;
        cm->joinable =
                pthread_create(&cm->th, NULL, router_txn_thread, cm) == 0;
        if (!cm->joinable) /* no thread: commit here */
                router_txn_thread(cm);
        return 0;
}

int router_txn_commit_wait(struct router *r, int block, char *err,
                           size_t errlen)
{
        struct router_commit *cm = &r->cm;

        if (!cm->running || (!block && !atomic_load(&cm->done)))
                return 0;
        if (cm->joinable)
                pthread_join(cm->th, NULL);
        cm->running = 0;
        rd_kafka_consumer_group_metadata_destroy(cm->cgmd);
        cm->cgmd = NULL;
        rd_kafka_topic_partition_list_destroy(cm->offsets);
        cm->offsets = NULL;
        if (cm->rc) /* its transaction is aborted by router_txn_abort */
                return km_err_set(err, errlen, cm->rc, "%s", cm->err);
        r->txn_begun = 0;
        km_log_debug("committed a batch of %lld message(s): %lld ms after "
                     "its first, the commit %lld ms (send_offsets %lld us, "
                     "commit_transaction %lld us)",
                     (long long)cm->batch_n,
                     (long long)(km_now_ms() - cm->batch_start_ms),
                     (long long)(km_now_ms() - cm->t0),
                     (long long)cm->offsets_us, (long long)cm->endtxn_us);
        r->st.offsets_us += cm->offsets_us;
        r->st.endtxn_us += cm->endtxn_us;
        r->st.batches++;
        r->failures = 0;
        r->last_commit_ms = km_now_ms();
        router_metrics_committed(r, cm);
        router_dedup_committed(r, cm); /* remembered only now */
        cm->batch_n = 0;
        return 0;
}

int router_txn_commit(struct router *r, char *err, size_t errlen)
{
        int rc = router_txn_commit_start(r, err, errlen);

        return rc ? rc : router_txn_commit_wait(r, 1, err, errlen);
}

void router_txn_abort(struct router *r, int rewind)
{
        struct router_commit *cm = &r->cm;
        char err[512];
        int64_t n;

        /* a running commit ends first; if it committed, only the open
         * batch is lost (and read again after its offsets) */
        if (router_txn_commit_wait(r, 1, err, sizeof(err)))
                km_log_warn("%s", err);
        n = r->batch_n + cm->batch_n;
        if (r->txn_begun) {
                int rc = km_kafka_txn_err(
                        rd_kafka_abort_transaction(r->producer,
                                                   (int)r->rc->txn_timeout_ms),
                        "abort_transaction", err, sizeof(err));

                if (rc == KM_ERETRY) /* may be retried (librdkafka docs) */
                        rc = km_kafka_txn_err(
                                rd_kafka_abort_transaction(
                                        r->producer,
                                        (int)r->rc->txn_timeout_ms),
                                "abort_transaction", err, sizeof(err));
                /* the producer cannot end its transaction: a new one
                 * (router.c, router_renew) fences it, and the coordinator
                 * aborts what it left open */
                if (rc) {
                        km_log_warn("%s: replacing the producer", err);
                        r->renew = 1;
                }
                r->txn_begun = 0;
        }
        if (n > 0 || r->in_txn) {
                km_log_warn("aborted a batch of %lld message(s)", (long long)n);
                r->st.aborts++;
                r->failures++;
                router_metrics_aborted(r);
        }
        cm->batch_n = 0;
        cm->nsent = 0;
        router_txn_reset(r);
        if (rewind && !r->fatal && !r->renew)
                router_txn_rewind(r);
}

/* Seek the assignment to the committed offsets.  Until that worked
 * (r->reseek) the run loop reads nothing more: a batch read on after a
 * failed rewind (the broker away) would commit offsets past the aborted
 * one, and its complaints would be lost. */
void router_txn_rewind(struct router *r)
{
        rd_kafka_topic_partition_list_t *a = NULL;
        char err[512];
        int rc = 0;

        if (rd_kafka_assignment(r->consumer, &a) == 0 && a->cnt > 0 &&
            (rc = router_hook_rewind(err, sizeof(err))) == 0)
                rc = km_kafka_rewind(r->consumer, err, sizeof(err));
        if (a)
                rd_kafka_topic_partition_list_destroy(a);
        if (rc == KM_EFATAL) {
                km_log_error("rewind: %s", err);
                r->fatal = 1;
        } else if (rc) {
                km_log_warn("rewind: %s (again in 500 ms)", err);
        }
        r->reseek = rc != 0 && !r->fatal;
}

void router_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
        struct router *r = opaque;
        int coop = km_kafka_rebalance_coop(rk);
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
                if (r->in_txn || r->cm.running) {
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
