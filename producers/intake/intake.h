/*
 * intake.h - komek-intake: complaints from JSON Lines and CSV files (or
 * stdin) to the complaints topic; what is invalid to complaints.dlq.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"

enum intake_format { INTAKE_AUTO, INTAKE_JSONL, INTAKE_CSV };

struct intake_conf {
        char *format;                /* auto, jsonl, csv */
        int64_t delivery_timeout_ms; /* how long the broker may be away */
        int progress;                /* progress line on a terminal */
        char *source;                /* fills a record's missing source */
        int64_t threads;             /* validation threads, 0: one per CPU */
};

#define INTAKE_BATCH 1024
#define INTAKE_MAX_THREADS 16
/* A partial batch goes on this long after its first record at the latest
 * (sooner when the input goes idle: intake_input.c) */
#define INTAKE_LINGER_MS 5
/* librdkafka's producer queue unless kafka { } sets it: messages and
 * kB of payload (intake.c) */
#define INTAKE_QUEUE_MSGS "20000"
#define INTAKE_QUEUE_KB "16384"

/* One record on its way: read (intake_input.c), worked (intake_work.c),
 * then published in input order (intake_publish.c). */
struct intake_item {
        size_t off, len; /* the record's bytes: batch data + off, NUL after */
        json_t *obj;     /* CSV: the row as an object; NULL for JSONL */
        int64_t line;
        char reason[64]; /* set: dead-letter it (reader or model said so) */
        char *detail;
        int valid;         /* results: complaint (1) or dead letter (0) */
        size_t poff, plen; /* the canonical text: batch out + poff */
        char key[40];      /* building_id (at most 32) or the id */
};

/* A batch: up to INTAKE_BATCH records of one file, their bytes in one
 * block.  Batches cycle: free -> reader -> work queue -> a worker -> done
 * -> the publisher (in sequence order) -> free. */
struct intake_batch {
        struct intake_item *items;
        size_t n, cap;
        char *data; /* the records' bytes */
        size_t dlen, dcap;
        char *out; /* the valid records' canonical texts, one after another
                    * (the worker's; librdkafka copies them) */
        size_t olen, ocap;
        const char *file; /* every item of a batch is from one file */
        uint64_t seq;
        int64_t first_ms; /* when its first record was read */
        struct intake_batch *next;
};

struct intake_reason {
        char name[64];
        int64_t n;
};

/* The pipeline: the reader (main thread), intake.threads workers and one
 * publisher, with a bounded pool of batches between them. */
struct intake_pipe {
        pthread_mutex_t mu;
        pthread_cond_t work_cv;    /* work queued, or closing */
        pthread_cond_t done_cv;    /* a batch worked, or closing */
        pthread_cond_t free_cv;    /* a batch back in the pool, or all out */
        struct intake_batch *pool; /* every batch, for the end */
        size_t npool;
        struct intake_batch *free_list, *work_head, *work_tail, *done_list;
        uint64_t seq_in;  /* batches submitted */
        uint64_t seq_out; /* batches published (or dropped after a stop) */
        int closing;
        pthread_t workers[INTAKE_MAX_THREADS], publisher;
        int nworkers, publisher_up;
};

struct intake {
        const struct km_conf *conf;
        const struct intake_conf *ic;
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;         /* the complaints topic */
        struct km_kafka_counts counts; /* the publisher's (delivery reports) */

        _Atomic int64_t read; /* records read (blank lines not counted) */
        int64_t published;    /* valid records handed to the producer */
        int64_t dlq;          /* invalid records handed to the producer */
        int64_t blank;        /* blank lines: no record in them, counted */
        int files, files_failed;
        struct intake_reason *reasons;
        size_t nreasons;

        _Atomic int stopped; /* stop reading: signal or broker gone */
        _Atomic int halted;  /* stop publishing too: broker gone */
        pthread_mutex_t stop_mu;
        char stop_why[160]; /* why, for the summary */
        char stop_at[300];  /* file:line where reading stopped */

        struct intake_batch *cur; /* the reader's batch, NULL-able */
        int input_file;           /* the input is a regular file (never idle) */
        struct intake_pipe pipe;
        int tty;
        int64_t start_ms, last_progress_ms;
};

/* intake_input.c */
/* @returns 0, or KM_EFATAL after a read error (logged); a bad line is
 * dead-lettered, not an error. */
int intake_jsonl(struct intake *in, FILE *fp, const char *name) KM_MUSTCHECK;
int intake_csv(struct intake *in, FILE *fp, const char *name, char *err,
               size_t errlen) KM_MUSTCHECK;

/* intake_csv.c */
/* Build the complaint object from a header and a row (km_csv_split's).
 * New reference. */
json_t *intake_csv_object(char *const *header, char *const *row, int n);

/* intake_work.c */
/* Start the workers and the publisher. @returns 0 or -1 with err. */
int intake_pipe_start(struct intake *in, char *err, size_t errlen) KM_MUSTCHECK;
/* Hand the last batch on, wait until every batch is published, stop the
 * threads. */
void intake_pipe_finish(struct intake *in);
/* Free the pool (after intake_pipe_finish). */
void intake_pipe_destroy(struct intake *in);
/* The reader: a free batch (waits while all are in use). */
struct intake_batch *intake_pipe_get(struct intake *in);
/* The reader: queue b for the workers. */
void intake_pipe_submit(struct intake *in, struct intake_batch *b);

/* intake_publish.c */
void intake_record(struct intake *in, const char *buf, size_t len, json_t *obj,
                   const char *file, int64_t line);
void intake_reject(struct intake *in, const char *reason, const char *detail,
                   const char *buf, size_t len, const char *file, int64_t line);
/* Hand the reader's partial batch on (file end, idle input, linger). */
void intake_flush(struct intake *in);
/* 1 when there is a partial batch waiting for more records. */
int intake_pending(const struct intake *in);
/* The publisher: one worked batch to the topics, in order. */
void intake_publish(struct intake *in, struct intake_batch *b);
/* Stop reading (the first why and where are kept for the summary); halt:
 * also stop publishing what was read (the broker is gone).  A signal stops
 * the reading only: what was read is still published. */
void intake_stop(struct intake *in, const char *why, const char *file,
                 int64_t line, int halt);
void intake_progress(struct intake *in, int final);
void intake_summary(const struct intake *in, int64_t undelivered, double secs);

#endif /* INTAKE_H */
