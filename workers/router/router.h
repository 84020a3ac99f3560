/*
 * router.h - komek-router: consumes `complaints` in a consumer group,
 * routes each complaint to an organisation (common/km_dir.c) and produces
 * one dispatch message, exactly once: the dispatch (or dead-letter)
 * messages and the consumed offsets commit in one Kafka transaction per
 * batch (every router.batch_size messages or router.batch_ms).  A
 * complaint id already dispatched (a resubmission) is dropped before it
 * is produced (router_dedup.c).  A batch's commit runs in a thread of
 * its own while the next batch is parsed and routed (router_txn.c).
 */
#ifndef ROUTER_H
#define ROUTER_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_dir.h"
#include "km_dir_hist.h"
#include "km_err.h"
#include "km_kafka.h"
#include "km_metrics.h"
#include "km_obs.h"
#include "km_route.h"

struct router_conf {
        char *group;            /* consumer group id */
        char *txn_id;           /* transactional.id; NULL: derived */
        int64_t instance;       /* tells processes on one host apart */
        int64_t batch_size;     /* messages per transaction */
        int64_t batch_ms;       /* longest a transaction stays open */
        int64_t reload_ms;      /* directory version check period; 0 off */
        int64_t txn_timeout_ms; /* commit/abort/send_offsets timeout */
        int64_t exit_idle_ms; /* exit 0 after this long without input; 0 never */
        int64_t dedup_ids;    /* dispatched ids remembered; 0: none */
        char *metrics_address;   /* /metrics and /healthz */
        int64_t metrics_port;    /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

/* Metrics (docs/operations.md).  Message counts of the open transaction
 * are kept here and added to the counters only when it commits, so an
 * aborted and redone batch is counted once. */
#define ROUTER_DLQ_REASONS 8
struct router_metrics {
        struct km_metrics *reg; /* NULL: metrics off */
        struct km_metric *in, *out, *dup, *batch, *commit, *aborts,
                *last_commit;
        struct km_obs_probe probe;
        int64_t n_in, n_out, n_dup; /* in the open transaction */
        struct {
                struct km_metric *h;
                int64_t n;
        } dlq[ROUTER_DLQ_REASONS]; /* dead letters of it, by reason */
        int ndlq;
};

struct router_stats {
        int64_t consumed, dispatched, triaged, dlq;
        int64_t dup_mem, dup_pg; /* duplicates dropped (committed) */
        int64_t unchecked;       /* produced without the tasks check */
        int64_t batches, aborts, reloads;
        /* where the wall time went (us): polling (of it, polls that
         * returned nothing), parsing and routing, the duplicate query,
         * producing, waiting for the running commit, and in the commit
         * thread send_offsets and commit_transaction */
        int64_t poll_us, idle_us, work_us, pg_us, produce_us, wait_us,
                offsets_us, endtxn_us;
        int64_t idle_polls;
};

/* A set of complaint ids with FIFO eviction (router_idset.c). */
#define ROUTER_ID_BYTES 16
struct router_idset {
        unsigned char (*ids)[ROUTER_ID_BYTES]; /* ring, oldest at head */
        uint32_t *slots;                       /* ring position + 1; 0 empty */
        size_t cap, n, head, mask;
};

/* Where a consumed message came from (logs, dead letters). */
struct router_origin {
        int32_t partition;
        int64_t offset;
        const char *payload; /* the message as consumed; NULL-able */
        size_t len;
};

/* A routed complaint waiting for the duplicate check, or a dead letter
 * (dlq set), waiting to be produced (router_dedup.c). */
struct router_pend {
        unsigned char id[ROUTER_ID_BYTES];
        char cid[37]; /* the id as text (KM_ID_LEN) */
        int32_t partition;
        int64_t offset;
        int triage;
        const char *reason; /* static string of km_route */
        char *key;          /* organisation id (owned copy) */
        char *msg;          /* dispatch message, or the dead letter's
                                  original (owned) */
        size_t msglen;
        size_t raw_len;     /* the complaint: msg's last raw_len + 1
                                  bytes but the closing brace */
        char *dlq, *detail; /* a dead letter: reason, detail (owned) */
};

/* Duplicate suppression: a complaint id already dispatched is dropped
 * before it is produced (docs/routing.md "Resubmissions"). */
struct router_dedup {
        struct router_idset done; /* dispatched in committed transactions */
        struct router_idset txn;  /* valid ids seen in the open one */
        unsigned char (*sent)[ROUTER_ID_BYTES]; /* produced in the open one */
        size_t nsent, sentcap;
        struct router_pend *pend; /* routed, not yet checked/produced */
        size_t npend, pendcap, pendbytes;
        unsigned char (*found)[ROUTER_ID_BYTES]; /* tasks among pend[0, */
        size_t nfound, nchecked;                 /* nchecked), sorted */
        int64_t dup_mem, dup_pg, unchecked;      /* in the open transaction */
        int pg_failing; /* the tasks query failed last time */
};

/* A batch's commit in its thread (router_txn.c): send_offsets and
 * commit_transaction, everything produced before it started.  What the
 * batch counted is moved here from the open batch and applied only when
 * it committed. */
struct router_commit {
        pthread_t th;
        int running;     /* started, not yet joined */
        int joinable;    /* in th (else it ran in the caller) */
        atomic_int done; /* the thread finished: join without waiting */
        int rc;          /* its result, err its message */
        char err[512];
        rd_kafka_t *producer;
        rd_kafka_topic_partition_list_t *offsets;
        rd_kafka_consumer_group_metadata_t *cgmd;
        int timeout_ms;
        int64_t batch_n, batch_start_ms, t0;
        int64_t offsets_us, endtxn_us; /* its two stages took */
        int64_t n_in, n_out, n_dup;    /* router_metrics of the batch */
        struct {
                struct km_metric *h;
                int64_t n;
        } dlq[ROUTER_DLQ_REASONS];
        int ndlq;
        unsigned char (*sent)[ROUTER_ID_BYTES]; /* router_dedup of it */
        size_t nsent, sentcap;
        int64_t dup_mem, dup_pg, unchecked;
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
        struct km_dir_hist *hist; /* periods by the day (issue 17) */
        rd_kafka_t *consumer;
        rd_kafka_t *producer;
        struct km_kafka_counts pcounts;
        int in_txn;      /* a batch is open (messages consumed) */
        int txn_begun;   /* its Kafka transaction (or, while the
                                    commit runs, the committing one's) */
        int64_t batch_n; /* messages in it */
        int64_t batch_start_ms;
        rd_kafka_topic_partition_list_t *offsets; /* next offsets in it */
        struct router_commit cm;     /* the previous batch's commit */
        struct km_kafka_fetch fetch; /* wakes the fetcher (km_kafka.h) */
        int64_t next_check_ms;       /* directory version check */
        int failures;                /* consecutive aborts */
        int fatal;                   /* stop and exit 1 */
        /* an aborted batch's rewind failed: read nothing until it worked */
        int reseek;
        /* the producer failed fatally: replace it (router_renew), reseek */
        int renew;
        int renewals;                                  /* producers replaced */
        int64_t first_ms, last_commit_ms, last_msg_ms; /* monotonic */
        struct router_stats st;
        struct router_metrics m;
        struct router_dedup dd;
};

/* Test hooks (tests/routing/router_hooks.c), only in the test build
 * (KM_TEST_HOOKS: build/tests/hooks/komek-router): a fatal producer
 * error, a failed batch, failing rewinds.  Constants here otherwise. */
#ifdef KM_TEST_HOOKS
int router_hook_message(struct router *r, char *err, size_t errlen);
int router_hook_rewind(char *err, size_t errlen);
#else
#define router_hook_message(r, err, errlen) 0
#define router_hook_rewind(err, errlen) 0
#endif

/* router_txn.c */
void router_txn_open(struct router *r);
int router_txn_produce(struct router *r, int force, char *err,
                       size_t errlen) KM_MUSTCHECK;
int router_txn_commit_start(struct router *r, char *err,
                            size_t errlen) KM_MUSTCHECK;
int router_txn_commit_wait(struct router *r, int block, char *err,
                           size_t errlen) KM_MUSTCHECK;
int router_txn_commit(struct router *r, char *err, size_t errlen) KM_MUSTCHECK;
void router_txn_abort(struct router *r, int rewind);
void router_txn_rewind(struct router *r);
void router_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);

/* router_msg.c */
int router_msg_handle(struct router *r, const rd_kafka_message_t *rkm,
                      char *err, size_t errlen) KM_MUSTCHECK;
int router_msg_dlq(struct router *r, const struct router_origin *o,
                   const char *reason, const char *detail, char *err,
                   size_t errlen) KM_MUSTCHECK;

/* router_dedup.c */
#define ROUTER_FLUSH_N 1000          /* routed complaints per check */
#define ROUTER_FLUSH_BYTES (4 << 20) /* or this many message bytes */
void router_dedup_init(struct router *r);
void router_dedup_destroy(struct router *r);
int router_dedup_seen(struct router *r, const char *cid, int32_t partition,
                      int64_t offset);
void router_dedup_pend(struct router *r, const char *cid,
                       const struct km_route *route, int triage, char *msg,
                       size_t raw_len, int32_t partition, int64_t offset);
void router_dedup_pend_dlq(struct router *r, const struct router_origin *o,
                           const char *reason, const char *detail);
int router_dedup_due(const struct router *r);
void router_dedup_check(struct router *r);
int router_dedup_flush(struct router *r, char *err, size_t errlen) KM_MUSTCHECK;
void router_dedup_handover(struct router *r, struct router_commit *cm);
void router_dedup_committed(struct router *r, struct router_commit *cm);
void router_dedup_aborted(struct router *r);

/* router_idset.c */
void router_idset_init(struct router_idset *s, size_t cap);
void router_idset_destroy(struct router_idset *s);
int router_idset_has(const struct router_idset *s, const unsigned char *id);
int router_idset_add(struct router_idset *s, const unsigned char *id);
void router_idset_clear(struct router_idset *s);

/* router_metrics.c */
void router_metrics_init(struct router *r);
void router_metrics_dlq(struct router *r, const char *reason);
void router_metrics_handover(struct router *r, struct router_commit *cm);
void router_metrics_committed(struct router *r, const struct router_commit *cm);
void router_metrics_aborted(struct router *r);
void router_metrics_clear(struct router *r);

int64_t router_now_us(void);

/* router_dir.c */
int router_dir_reload(struct router *r, int force);

#endif /* ROUTER_H */
