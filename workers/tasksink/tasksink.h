/*
 * tasksink.h - komek-tasksink: consumes `dispatch` (read_committed) into
 * the tasks table, exactly once: each batch is one PostgreSQL transaction
 * holding the task rows and the consumed offsets (consumer_offsets); on
 * every assignment the consumer seeks to the offsets stored there.  The
 * insert is idempotent on complaint_id: a re-delivered message changes
 * nothing, a re-route (a higher attempt) replaces the assignment.  A
 * batch is written set-based: COPY into a staging table, then one
 * statement per table (tasksink_db.c).  Also
 * relays the inbox's outbox (task_outbox) for crash safety.
 */
#ifndef TASKSINK_H
#define TASKSINK_H

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"
#include "km_metrics.h"
#include "km_obs.h"

struct tasksink_conf {
        char *group; /* consumer group id */
        char *name;  /* consumer name in consumer_offsets; NULL: group */
        int64_t batch_size;
        int64_t batch_ms;
        int64_t idle_ms;         /* write when no message came for this long */
        int64_t relay_ms;        /* outbox relay period; 0: off */
        int64_t relay_age_ms;    /* leave younger rows to the inbox */
        char *metrics_address;   /* /metrics and /healthz */
        int64_t metrics_port;    /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

/* Metrics (docs/operations.md), added when a batch commits. */
struct tasksink_metrics {
        struct km_metrics *reg; /* NULL: metrics off */
        struct km_metric *in, *out, *duplicate, *invalid, *refused, *relayed;
        struct km_metric *batch, *commit, *last_commit;
        struct km_obs_probe probe;
        int64_t n_in, n_invalid; /* in the open batch */
};

/* The fields of one dispatch message (tasksink_parse.c), whichever
 * reader filled them: strings NUL-terminated (in buf), kind a
 * KM_JSON_* type (KM_JSON_NONE: absent).  TS_F_ADDRESS is the complaint's
 * address as one text ("street, house, кв. apartment" or its text). */
enum {
        TS_F_ID,
        TS_F_ORG_ID,
        TS_F_ORG_KIND,
        TS_F_BUILDING,
        TS_F_DISTRICT,
        TS_F_CATEGORY,
        TS_F_REASON,
        TS_F_RECEIVED,
        TS_F_ROUTED,
        TS_F_DUE,
        TS_F_DESCRIPTION,
        TS_F_ADDRESS,
        TS_NF
};

struct tasksink_msg {
        int kind[TS_NF];
        const char *f[TS_NF];
        size_t n[TS_NF];
        int attempt_kind, complaint_kind;
        long long attempt;
        const char *complaint, *contact; /* their bytes; contact NULL: not
                                          * an object */
        size_t complaint_len, contact_len;
        int by_ref; /* jansson read it (the scanner left it undecided) */
        char *buf;  /* the strings; reused from message to message */
        size_t cap, used;
        char *dump[2]; /* jansson's serialisation when not found as written */
};

/* One dispatch message, validated: its staging line (COPY text format)
 * is bytes [line_off, line_off + line_len) of tasksink.copy. */
struct tasksink_row {
        char *raw; /* the message as consumed, for its dead letter */
        size_t rawlen;
        size_t line_off, line_len;
        int32_t partition;
        int64_t offset;
};

struct tasksink {
        struct km_kafka_counts ccounts; /* first: see router.h */
        const struct km_conf *conf;
        const struct tasksink_conf *tc;
        const char *name;
        PGconn *conn;
        rd_kafka_t *consumer;
        rd_kafka_t *producer; /* outbox relay and dead letters */
        struct km_kafka_counts pcounts;
        struct tasksink_msg msg; /* the message being read */
        int64_t by_ref;          /* messages the scanner left to jansson */
        struct tasksink_row *rows;
        size_t nrows, cap;
        char *copy; /* the batch's staging lines, COPY text format */
        size_t copylen, copycap;
        int stage_pid; /* backend whose staging table and statements exist */
        int64_t batch_start_ms;
        int64_t last_msg_ms; /* when the last message came (idle_ms) */
        rd_kafka_topic_partition_list_t
                *offsets; /* next offsets of the batch */
        int64_t next_relay_ms;
        int fatal;
        /* a batch failed: nothing more is read until the assignment is
         * back at the stored offsets (reading on would skip the batch) */
        struct km_kafka_reseek reseek;
        int dlq_failed;      /* a dead letter of the open batch failed */
        int64_t failed_seen; /* pcounts.failed already accounted for */
        int64_t consumed, inserted, rerouted, duplicates, dlq, batches;
        int64_t handed; /* routed by an old directory: handed over */
        int64_t relayed;
        struct tasksink_metrics m;
};

/* tasksink_parse.c */
/**
 * @brief Read and judge one dispatch message [buf, buf + len) (buf
 * NULL-able) into m: with km_json_scan, or with jansson when ref is set or
 * the scanner leaves it undecided (m->by_ref).
 * @returns 0, or KM_EINPUT with the reason in err (dead-letter it).
 */
int tasksink_msg_read(const struct km_conf *conf, const char *buf, size_t len,
                      int ref, struct tasksink_msg *m, char *err,
                      size_t errlen) KM_MUSTCHECK;
/** @brief Free what m holds (its strings); m may be all zero. */
void tasksink_msg_free(struct tasksink_msg *m);
/** @brief The message as a staging line appended to ts->copy (KM_EINPUT:
 *  invalid, err says why). */
int tasksink_row_parse(struct tasksink *ts, const rd_kafka_message_t *rkm,
                       struct tasksink_row *row, char *err,
                       size_t errlen) KM_MUSTCHECK;
/** @brief Free what row holds (its raw copy); row is zeroed. */
void tasksink_row_free(struct tasksink_row *row);

/* tasksink_metrics.c */
void tasksink_metrics_init(struct tasksink *ts);
void tasksink_metrics_committed(struct tasksink *ts, const int64_t counts[4],
                                int64_t write_start_ms);

/* tasksink_db.c */
int tasksink_dlq(struct tasksink *ts, const char *stage, int32_t partition,
                 int64_t offset, const char *reason, const char *detail,
                 const void *buf, size_t len, char *err,
                 size_t errlen) KM_MUSTCHECK;
int tasksink_batch_write(struct tasksink *ts, char *err,
                         size_t errlen) KM_MUSTCHECK;
void tasksink_batch_clear(struct tasksink *ts);
int tasksink_seek_stored(struct tasksink *ts,
                         rd_kafka_topic_partition_list_t *parts, char *err,
                         size_t errlen) KM_MUSTCHECK;

#endif /* TASKSINK_H */
