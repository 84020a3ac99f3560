/*
 * analytics.h - private header of komek-analytics: consumes `complaints`,
 * `dispatch`, `task-events` and `votes` (read_committed) and writes facts
 * and incremental aggregates into PostgreSQL exactly once: one
 * transaction per batch holds the facts, the aggregates, the event-time
 * watermarks and the consumed offsets; on every assignment the consumer
 * seeks to the offsets stored in PostgreSQL.
 */
#ifndef ANALYTICS_H
#define ANALYTICS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>

#include "km_complaint.h"
#include "km_conf.h"
#include "km_kafka.h"
#include "km_obs.h"

enum an_topic {
        AN_T_COMPLAINTS,
        AN_T_DISPATCH,
        AN_T_EVENTS,
        AN_T_VOTES,
        AN_NTOPICS,
};

struct analytics_conf {
        char *group;       /* consumer group = consumer_offsets.consumer */
        int64_t batch_max; /* messages per transaction */
        int64_t batch_ms;  /* longest a batch waits before it is written */
        int64_t utc_offset_hours; /* local day = received_at + this */
        int naive; /* bench baseline: one INSERT+COMMIT per message */
        int lag;   /* --lag: print the lag and exit */
        double w_complaints, w_resolution, w_sla, w_repeat, w_votes, w_disputed;
        int64_t min_complaints, min_votes, repeat_days;
        char *metrics_address;   /* /metrics and /healthz */
        int64_t metrics_port;    /* 0: off, -1: any free port */
        char *metrics_port_file; /* NULL-able: the bound port is written here */
};

/* One consumed message waiting in the batch. */
struct an_msg {
        rd_kafka_message_t *rkm; /* owned until the batch is cleared */
        int topic;               /* enum an_topic */
        char *row;               /* COPY text line, NULL when dead-lettered */
        size_t rowlen;
        char key[40];     /* the fact's key, for sorting */
        int attempt;      /* dispatch: second part of the key */
        size_t ord;       /* arrival order in the batch */
        int64_t event_at; /* event time (epoch s) for the watermark */
        char reason[KM_REASON_LEN];
        char detail[256];
};

/* The next offset (and the latest event time) of one partition, stored in
 * the batch's transaction. */
struct an_pos {
        int topic;
        int32_t partition;
        int64_t next_offset;
        int64_t event_at; /* 0: no event in this batch */
};

struct an_batch {
        struct an_msg *msgs;
        size_t n, cap;
        struct an_pos *pos;
        size_t npos, cappos;
        int64_t started_ms;
};

/* The writer thread (analytics_write.c). */
struct an_writer {
        pthread_t th;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int inited, started;
        int busy; /* job handed over and not written yet */
        int quit;
        struct an_batch job;
        int result; /* of the last job: 0 or KM_E* */
        char err[512];
};

/* Prometheus series (analytics_metrics.c); all NULL when metrics are off.
 * Handles are made before the writer thread starts and updated by it
 * (atomics); the probe runs on the consumer thread only. */
struct an_metrics {
        struct km_metrics *reg;
        struct km_metric *in[AN_NTOPICS], *out[AN_NTOPICS], *dup[AN_NTOPICS];
        struct km_metric *batch, *commit, *last_commit;
        struct km_obs_probe probe;
        int db_due; /* the database probe waits for an idle writer */
        _Atomic int64_t write_since_ms; /* a batch in flight since; 0: none */
};

struct analytics {
        struct km_conf *conf;
        struct analytics_conf *ac;
        const char *topics[AN_NTOPICS];
        char appname[64]; /* PostgreSQL application_name (truncated) */
        PGconn *conn;
        rd_kafka_t *rk;  /* the consumer */
        rd_kafka_t *dlq; /* idempotent producer for complaints.dlq */
        struct km_kafka_counts dlq_counts;
        struct an_batch batch; /* being read */
        struct an_writer writer;
        /* seek the assignment to the offsets in PostgreSQL before reading
         * on (a batch read after a failed one would store offsets past
         * it: its messages would be lost) */
        struct km_kafka_reseek reseek;
        int fatal; /* stop, exit 1 */
        char fatal_err[512];
        int64_t consumed, batches, dead_lettered, retries;
        int64_t new_rows[AN_NTOPICS], dup_rows[AN_NTOPICS];
        struct an_metrics m;
};

/* analytics_run.c */
int analytics_init(struct analytics *an, struct km_conf *conf,
                   struct analytics_conf *ac, char *err,
                   size_t errlen) KM_MUSTCHECK;
int analytics_run(struct analytics *an, char *err, size_t errlen) KM_MUSTCHECK;
void analytics_destroy(struct analytics *an);
void analytics_batch_clear(struct an_batch *b);

/* analytics_write.c */
int analytics_writer_start(struct analytics *an, char *err,
                           size_t errlen) KM_MUSTCHECK;
int analytics_writer_wait(struct analytics *an, char *err,
                          size_t errlen) KM_MUSTCHECK;
void analytics_writer_submit(struct analytics *an);
void analytics_writer_stop(struct analytics *an);
int analytics_writer_idle(struct analytics *an);

/* analytics_metrics.c */
void analytics_metrics_init(struct analytics *an);
int analytics_metrics_serve(struct analytics *an, char *err,
                            size_t errlen) KM_MUSTCHECK;
void analytics_metrics_written(struct analytics *an, const struct an_batch *b,
                               const int64_t new0[AN_NTOPICS],
                               const int64_t dup0[AN_NTOPICS],
                               int64_t write_start_ms);
void analytics_metrics_tick(struct analytics *an);

/* analytics_parse.c */
/* the enum an_topic of a topic name, -1 when it is none of ours (a
 * lookup, not a failure) */
int analytics_topic_of(const struct analytics *an, const char *topic);
void analytics_parse(const struct analytics *an, struct an_msg *m);
void analytics_local_day(int64_t t, int64_t offset_hours, char *buf,
                         size_t len);

/* analytics_lag.c */
int analytics_lag(struct km_conf *conf, struct analytics_conf *ac, FILE *fp,
                  char *err, size_t errlen) KM_MUSTCHECK;

/* analytics_store.c */
int analytics_store_settings(struct analytics *an, char *err,
                             size_t errlen) KM_MUSTCHECK;
int analytics_store_prepare(struct analytics *an, char *err,
                            size_t errlen) KM_MUSTCHECK;
int analytics_store_batch(struct analytics *an, struct an_msg *msgs, size_t n,
                          const struct an_pos *pos, size_t npos, char *err,
                          size_t errlen) KM_MUSTCHECK;
int analytics_store_naive(struct analytics *an, struct an_msg *m, char *err,
                          size_t errlen) KM_MUSTCHECK;

#endif /* ANALYTICS_H */
