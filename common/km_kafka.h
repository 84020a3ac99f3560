/*
 * km_kafka.h - librdkafka helpers: producers (always idempotent, optionally
 * transactional), read_committed consumers, delivery counting, flush with
 * a deadline, topic creation, and mapping of librdkafka errors onto the
 * KM_E* convention.  Nothing here prints or exits.
 */
#ifndef KM_KAFKA_H
#define KM_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"

/* Counters a producer's callbacks update.  The callbacks run inside
 * rd_kafka_poll/flush on the caller's thread, so plain fields suffice. */
struct km_kafka_counts {
        int64_t produced;  /* handed to librdkafka */
        int64_t delivered; /* acknowledged by the broker */
        int64_t failed;    /* permanently failed delivery */
        int fatal;         /* a fatal error was raised: stop */
        char fatal_reason[256];
        char last_error[256];
};

/**
 * @brief New rd_kafka_conf_t with bootstrap.servers, conf's verbatim
 * kafka {} properties, and error_cb/dr_msg_cb bound to counts (NULL-able).
 */
rd_kafka_conf_t *km_kafka_conf_new(const struct km_conf *conf,
                                   struct km_kafka_counts *counts, char *err,
                                   size_t errlen);

/**
 * @brief An idempotent producer (acks=all, enable.idempotence=true); with
 * a transactional_id (NULL-able) also transactional, already initialised
 * with rd_kafka_init_transactions.
 * @returns the handle or NULL with err set.
 */
rd_kafka_t *km_kafka_producer_new(const struct km_conf *conf,
                                  const char *transactional_id,
                                  struct km_kafka_counts *counts, char *err,
                                  size_t errlen);

/**
 * @brief A consumer in group_id: read_committed, manual commits, earliest
 * start.  rebalance_cb (NULL-able) gets opaque (NULL-able).
 */
rd_kafka_t *km_kafka_consumer_new(
        const struct km_conf *conf, const char *group_id,
        void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                             rd_kafka_topic_partition_list_t *, void *),
        void *opaque, char *err, size_t errlen);

/**
 * @brief km_kafka_consumer_new with the long-running workers' defaults:
 * a bounded prefetch (queued.max.messages.kbytes 8192, queued.min.messages
 * 20000; librdkafka's default is 64 MB) and a 1 s heartbeat / 10 s session,
 * so a joining or killed member is noticed quickly.  kafka {} overrides
 * them.  Set on the consumer only, so producers never warn about them.
 */
rd_kafka_t *km_kafka_worker_consumer_new(
        const struct km_conf *conf, const char *group_id,
        void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                             rd_kafka_topic_partition_list_t *, void *),
        void *opaque, char *err, size_t errlen);

/* The fetcher of a consumer that reads faster than the broker thread
 * looks again (km_kafka_fetch_kick). */
struct km_kafka_fetch {
        rd_kafka_queue_t *q; /* the consumer's queue: its length */
        int64_t peak;        /* its longest since the last kick */
        int64_t kicks;       /* kicks sent */
};

/**
 * @brief Begin watching rk's consumer queue into f (release it with
 * km_kafka_fetch_destroy, which accepts a zeroed f).
 */
void km_kafka_fetch_init(struct km_kafka_fetch *f, rd_kafka_t *rk);
void km_kafka_fetch_destroy(struct km_kafka_fetch *f);

/**
 * @brief Call before each poll.  XXX librdkafka 2.0.2: once the
 * pre-fetch queue reached queued.min.messages or
 * queued.max.messages.kbytes, a partition's broker thread fetches again
 * only when an op or I/O wakes it, or after 1 s (2.2.0 added
 * fetch.queue.backoff.ms for it), so a consumer that drains its queue in
 * less than a second waits for the rest of it.  When the queue was at
 * least 1,000 messages long and has drained to a quarter of its peak,
 * this sends every leader of the assignment one ListOffsets request
 * (rd_kafka_offsets_for_times: one per leader, waits for the answers, up
 * to 1 s), which wakes its broker thread; that one fetches again.  At a
 * live tail the queue stays short and nothing is sent.
 * @returns 1 if it sent the requests, else 0.
 */
int km_kafka_fetch_kick(rd_kafka_t *rk, struct km_kafka_fetch *f);

/**
 * @brief Subscribe to n topics. @returns 0 or KM_EFATAL.
 */
int km_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, int n,
                       char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief Produce one message (payload and key copied).  Waits on a full
 * queue, polling, up to timeout_ms.
 * @param key NULL-able
 * @returns 0, KM_ERETRY (queue still full, broker trouble), KM_EFATAL.
 */
int km_kafka_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                     const char *key, const void *payload, size_t len,
                     struct km_kafka_counts *counts, int timeout_ms, char *err,
                     size_t errlen) KM_MUSTCHECK;

/**
 * @brief Flush with a deadline. @returns 0 when nothing is left in
 * flight, else KM_ERETRY with the count in err.
 */
int km_kafka_flush(rd_kafka_t *rk, int timeout_ms, char *err,
                   size_t errlen) KM_MUSTCHECK;

/**
 * @brief Map a transactional API error to KM_E* and destroy it: fatal ->
 * KM_EFATAL; txn_requires_abort or retriable -> KM_ERETRY (abort and
 * rewind); anything else KM_EFATAL.  NULL error -> 0.
 */
int km_kafka_txn_err(rd_kafka_error_t *error, const char *what, char *err,
                     size_t errlen);

/**
 * @brief Commit the producer's transaction.  A commit that timed out
 * (retriable, no abort required) is still in progress and is committed
 * again, at most tries times (librdkafka: aborting it now would conflict
 * with it).  One still in flight after the last try is KM_EFATAL (never
 * abort it: stop, and let the next start fence and recover); on a stop
 * signal and for every other error, what km_kafka_txn_err returns.
 */
int km_kafka_txn_commit(rd_kafka_t *rk, int timeout_ms, int tries, char *err,
                        size_t errlen) KM_MUSTCHECK;

/**
 * @brief Create a topic (admin API) with 1 replica; an existing topic is
 * success, whatever its shape (the tests' own topics).
 */
int km_kafka_topic_create(const struct km_conf *conf, const char *name,
                          int partitions, int timeout_ms, char *err,
                          size_t errlen) KM_MUSTCHECK;

/**
 * @brief Rewind the consumer to its committed offsets (after an abort):
 * every assigned partition seeks to its committed offset, or to the
 * beginning when none.
 */
int km_kafka_rewind(rd_kafka_t *rk, char *err, size_t errlen) KM_MUSTCHECK;

/** Fills parts' offsets from where the program stores them (PostgreSQL:
 *  km_pg_offsets_load); 0 or KM_E* with err. */
typedef int km_kafka_seek_cb(void *opaque,
                             rd_kafka_topic_partition_list_t *parts, char *err,
                             size_t errlen);

/**
 * @brief 1 when rk's group uses the cooperative protocol, else 0: read from
 * its configured partition.assignment.strategy (cooperative-sticky; librdkafka
 * refuses to mix it with an eager one), not asked of the group with
 * rd_kafka_rebalance_protocol(), which waits for the group thread and can
 * block for ever in a rebalance callback run by rd_kafka_consumer_close()
 * (librdkafka #4041).  For rebalance callbacks.
 */
int km_kafka_rebalance_coop(rd_kafka_t *rk);

/**
 * @brief The rebalance of a consumer whose offsets are not in Kafka: on an
 * assignment, seek() sets each partition's start (when it fails, the
 * partitions start from the beginning: the caller's writes must be
 * idempotent), then assign; on a revoke, revoke(opaque, lost) writes the
 * open batch (lost: drops it, the partitions are someone else's), then
 * unassign.  Cooperative and eager protocols alike.  Call it from the
 * program's rebalance_cb.
 * @returns 0, or KM_ERETRY with err (the seek failed: starting from the
 *          beginning; or the (un)assign failed) for the caller to log.
 */
int km_kafka_rebalance_stored(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                              rd_kafka_topic_partition_list_t *parts,
                              km_kafka_seek_cb *seek,
                              void (*revoke)(void *opaque, int lost),
                              void *opaque, char *err, size_t errlen);

/**
 * @brief Seek every assigned partition to seek()'s offsets: the rewind
 * after a batch that was rolled back.
 * @returns 0, or KM_ERETRY with err.
 */
int km_kafka_rewind_stored(rd_kafka_t *rk, km_kafka_seek_cb *seek, void *opaque,
                           char *err, size_t errlen);

/* After a failed batch a worker reads nothing more until its assignment
 * was sought back to where its offsets are stored (PostgreSQL, or Kafka's
 * committed offsets): a batch read after the failed one would store or
 * commit offsets past it, and the failed batch would be lost.  need is
 * set by km_kafka_reseek_mark and cleared only by a rewind that worked. */
struct km_kafka_reseek {
        int need; /* read nothing until km_kafka_reseek_try worked */
};

#define KM_KAFKA_RESEEK_PAUSE_MS 500 /* between two attempts */

/** @brief A batch failed: the next poll waits for a rewind. */
void km_kafka_reseek_mark(struct km_kafka_reseek *rs);

/** @brief 1 while a rewind is due (poll nothing), else 0. */
int km_kafka_reseek_need(const struct km_kafka_reseek *rs);

/**
 * @brief One rewind attempt when one is due: seek rk's assignment to
 * seek()'s offsets (km_kafka_rewind_stored), or with seek NULL to the
 * committed offsets (km_kafka_rewind).  Success clears need; a failure
 * keeps it and waits KM_KAFKA_RESEEK_PAUSE_MS (km_kafka_reseek_pause)
 * before returning, so the caller's loop may try again straight away
 * (and a line it logs then comes after the pause).
 * @param seek NULL-able; opaque is its argument (NULL-able)
 * @returns 0 (also when no rewind was due), or the failed rewind's
 *          KM_ERETRY / KM_EFATAL with err.
 */
int km_kafka_reseek_try(struct km_kafka_reseek *rs, rd_kafka_t *rk,
                        km_kafka_seek_cb *seek, void *opaque, char *err,
                        size_t errlen) KM_MUSTCHECK;

/** @brief Wait KM_KAFKA_RESEEK_PAUSE_MS (a stop signal cuts it short):
 *  after a step the caller takes before the rewind failed (reconnecting). */
void km_kafka_reseek_pause(void);

/** What a topic looks like on the cluster (km_kafka_topic_ensure). */
struct km_topic_state {
        int partitions;
        int min_replicas;   /* fewest replicas of any partition */
        int min_isr_now;    /* fewest in-sync replicas of any partition */
        int min_isr_config; /* its min.insync.replicas */
};

/**
 * @brief Create a topic with partitions, replicas and (min_isr > 0)
 * min.insync.replicas, or check the existing one: fewer partitions or
 * replicas, or another min.insync.replicas, is KM_ECONFIG naming what
 * differs.  st gets what the cluster holds either way.
 */
int km_kafka_topic_ensure(const struct km_conf *conf, const char *name,
                          int partitions, int replicas, int min_isr,
                          int timeout_ms, struct km_topic_state *st, char *err,
                          size_t errlen) KM_MUSTCHECK;

/**
 * @brief The number of partitions of topic, from the metadata rk's
 * brokers give within timeout_ms.  @returns it, or -1 (unknown topic, an
 * error or no answer).
 */
int km_kafka_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif /* KM_KAFKA_H */
