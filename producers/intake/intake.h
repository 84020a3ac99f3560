/*
 * intake.h - komek-intake: complaints from JSON Lines and CSV files (or
 * stdin) to the complaints topic; what is invalid to complaints.dlq.
 */
#ifndef INTAKE_H
#define INTAKE_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>

#include "km_conf.h"
#include "km_kafka.h"

enum intake_format { INTAKE_AUTO, INTAKE_JSONL, INTAKE_CSV };

struct intake_conf {
        char *format;              /* auto, jsonl, csv */
        int64_t delivery_timeout_ms; /* how long the broker may be away */
        int progress;              /* progress line on a terminal */
        char *source;              /* fills a record's missing source */
        int64_t threads;           /* validation threads, 0: one per CPU */
};

#define INTAKE_BATCH 1024
#define INTAKE_MAX_THREADS 16

/* One record on its way: read, then worked (intake_work.c), then
 * published in input order (intake_flush). */
struct intake_item {
        char *buf;      /* the record's bytes, NUL-terminated copy */
        size_t len;
        json_t *obj;    /* CSV: the row as an object; NULL for JSONL */
        int64_t line;
        char reason[64]; /* set: dead-letter it (reader or model said so) */
        char *detail;
        int valid;      /* results: complaint (1) or dead letter (0) */
        char *payload;
        char *key;      /* NULL for dead letters */
};

struct intake_batch {
        struct intake_item *items;
        size_t n, cap;
        const char *file; /* every item of a batch is from one file */
};

struct intake_reason {
        char name[64];
        int64_t n;
};

struct intake {
        const struct km_conf *conf;
        const struct intake_conf *ic;
        rd_kafka_t *rk;
        struct km_kafka_counts counts;

        int64_t read;      /* records read (blank lines not counted) */
        int64_t published; /* valid records handed to the producer */
        int64_t dlq;       /* invalid records handed to the producer */
        int64_t blank;     /* blank lines skipped */
        int files, files_failed;
        struct intake_reason *reasons;
        size_t nreasons;

        int stopped;        /* stop reading: signal or broker gone */
        char stop_why[160]; /* why, for the summary */
        char stop_at[300];  /* file:line where reading stopped */

        struct intake_batch batch;
        int tty;
        int64_t start_ms, last_progress_ms;
};

/* intake_input.c */
int intake_jsonl(struct intake *in, FILE *fp, const char *name);
int intake_csv(struct intake *in, FILE *fp, const char *name, char *err,
               size_t errlen);

/* intake_csv.c */
/* Split one CSV record (without its line end) into fields (RFC 4180).
 * Fields are written NUL-terminated into a copy owned by *fields[0]'s
 * block: free(fields) and free(*block).  @returns the field count or -1
 * with a detail in err. */
int intake_csv_split(const char *rec, size_t len, char ***fields,
                     char **block, char *err, size_t errlen);
/* Build the complaint object from a header and a row. New reference. */
json_t *intake_csv_object(char *const *header, char *const *row, int n);
/* Quote state after [buf, len) from state (0 at a record start); 2 means
 * the record ends inside a quoted field and goes on on the next line. */
int intake_csv_open_quote(const char *buf, size_t len, int state);

/* intake_work.c */
void intake_work(struct intake *in);

/* intake_publish.c */
void intake_record(struct intake *in, const char *buf, size_t len,
                   json_t *obj, const char *file, int64_t line);
void intake_reject(struct intake *in, const char *reason, const char *detail,
                   const char *buf, size_t len, const char *file,
                   int64_t line);
void intake_flush(struct intake *in);
void intake_progress(struct intake *in, int final);
void intake_summary(const struct intake *in, int64_t undelivered,
                    double secs);

#endif /* INTAKE_H */
