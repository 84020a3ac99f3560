/*
 * router.h - komek-router: consumes `complaints` in a consumer group,
 * routes each complaint to an organisation (common/km_dir.c) and produces
 * one dispatch message, exactly once: the dispatch (or dead-letter)
 * messages and the consumed offsets commit in one Kafka transaction per
 * batch (every router.batch_size messages or router.batch_ms).
 */
#ifndef ROUTER_H
#define ROUTER_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_dir.h"
#include "km_kafka.h"
#include "km_metrics.h"
#include "km_obs.h"

struct router_conf {
        char *group;          /* consumer group id */
        char *txn_id;         /* transactional.id; NULL: derived */
        int64_t instance;     /* tells processes on one host apart */
        int64_t batch_size;   /* messages per transaction */
        int64_t batch_ms;     /* longest a transaction stays open */
        int64_t reload_ms;    /* directory version check period; 0 off */
        int64_t txn_timeout_ms; /* commit/abort/send_offsets timeout */
        int64_t exit_idle_ms; /* exit 0 after this long without input; 0 never */
        char *metrics_address;  /* /metrics and /healthz */
        int64_t metrics_port;   /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

/* Metrics (docs/operations.md).  Message counts of the open transaction
 * are kept here and added to the counters only when it commits, so an
 * aborted and redone batch is counted once. */
#define ROUTER_DLQ_REASONS 8
struct router_metrics {
        struct km_metrics *reg; /* NULL: metrics off */
        struct km_metric *in, *out, *batch, *commit, *aborts, *last_commit;
        struct km_obs_probe probe;
        int64_t n_in, n_out; /* in the open transaction */
        struct {
                struct km_metric *h;
                int64_t n;
        } dlq[ROUTER_DLQ_REASONS]; /* dead letters of it, by reason */
        int ndlq;
};

struct router_stats {
        int64_t consumed, dispatched, triaged, dlq;
        int64_t batches, aborts, reloads;
        int64_t poll_ms, work_ms, commit_ms; /* where the time went */
};

struct router {
        /* First member: librdkafka's error_cb of the consumer reads its
         * opaque as counts (km_kafka.c); the rebalance callback gets the
         * same opaque, so the router starts with the counts it can use. */
        struct km_kafka_counts ccounts;
        const struct km_conf *conf;
        const struct router_conf *rc;
        char txn_id[256];
        PGconn *conn;
        struct km_dir *dir;
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        struct km_kafka_counts pcounts;
        int in_txn;              /* a transaction is open */
        int64_t batch_n;         /* messages in it */
        int64_t batch_start_ms;
        rd_kafka_topic_partition_list_t *offsets; /* next offsets in it */
        int64_t next_check_ms;   /* directory version check */
        int failures;            /* consecutive aborts */
        int fatal;               /* stop and exit 1 */
        int64_t first_ms, last_commit_ms, last_msg_ms; /* monotonic */
        struct router_stats st;
        struct router_metrics m;
};

/* router_txn.c */
int router_txn_begin(struct router *r, char *err, size_t errlen);
int router_txn_commit(struct router *r, char *err, size_t errlen);
void router_txn_abort(struct router *r, int rewind);
void router_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* router_msg.c */
int router_msg_handle(struct router *r, const rd_kafka_message_t *rkm,
                      char *err, size_t errlen);

/* router_metrics.c */
void router_metrics_init(struct router *r);
void router_metrics_dlq(struct router *r, const char *reason);
void router_metrics_committed(struct router *r, int64_t commit_start_ms);
void router_metrics_aborted(struct router *r);
void router_metrics_clear(struct router *r);

/* router_dir.c */
int router_dir_reload(struct router *r, int force);

#endif /* ROUTER_H */
