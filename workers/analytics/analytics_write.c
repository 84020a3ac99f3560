/*
 * analytics_write.c - the writer thread of komek-analytics: takes one
 * batch at a time from the consumer loop (analytics_run.c), sends its
 * rejected messages to complaints.dlq (at least once: flushed before the
 * batch's transaction, so a batch that is retried may dead-letter a
 * message twice, with the same key "<topic>/<partition>/<offset>", the
 * dedup key; km_dlq_produce), then writes the batch in one transaction
 * (analytics_store.c).  A batch the database refuses as bad data
 * (KM_EINPUT) is written message by message, dead-lettering the ones
 * refused.
 *
 * Only this thread uses the DLQ producer; the PostgreSQL connection is
 * this thread's while a batch is in flight (busy), the consumer thread's
 * otherwise.  Handing over is a swap of two struct an_batch under mu.
 * A committed batch is counted in the metrics here
 * (analytics_metrics_written); a failed PostgreSQL call counts in
 * komek_pg_errors_total.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "km_log.h"
#include "km_dlq.h"
#include "km_outbox.h"
#include "km_util.h"

/* Send the batch's rejected messages to the DLQ and wait for them. */
static int an_dead_letter(struct analytics *an, struct an_msg *m, size_t n,
                          char *err, size_t errlen)
{
        int any = 0, r;

        for (size_t i = 0; i < n; i++) {
                const rd_kafka_message_t *rkm = m[i].rkm;
                /* the one dead-letter helper: body, key = origin, and
                 * Kafka Connect's error headers; it cuts the original to
                 * the broker's message size, or a message near the limit
                 * would be retried forever */
                struct km_dlq_origin from = {an->topics[m[i].topic],
                                             rkm->partition, rkm->offset, NULL};

                if (m[i].row)
                        continue;
                km_log_warn("%s[%d]@%lld: dead-lettered: %s",
                            an->topics[m[i].topic], (int)rkm->partition,
                            (long long)rkm->offset, m[i].reason);
                r = km_dlq_produce(an->dlq, an->conf, "komek-analytics",
                                   "VALUE_CONVERTER", &from, m[i].reason,
                                   m[i].detail, rkm->payload,
                                   rkm->payload ? rkm->len : 0, &an->dlq_counts,
                                   10000, err, errlen);
                if (r)
                        return r == KM_EINPUT ? KM_ERETRY : r;
                any = 1;
        }
        if (!any)
                return 0;
        r = km_kafka_flush(an->dlq, 15000, err, errlen);
        if (r == 0 && an->dlq_counts.failed > 0)
                r = km_err_set(err, errlen, KM_ERETRY, "%s",
                               an->dlq_counts.last_error);
        an->dlq_counts.failed = 0;
        return r;
}

/* A batch the database refused as bad data (KM_EINPUT): write its
 * messages one by one and dead-letter the ones refused, then the
 * offsets. */
static int an_store_one_by_one(struct analytics *an, struct an_batch *b,
                               char *err, size_t errlen)
{
        int r;

        for (size_t i = 0; i < b->n; i++) {
                if (b->msgs[i].row == NULL)
                        continue;
                r = analytics_store_batch(an, &b->msgs[i], 1, NULL, 0, err,
                                          errlen);
                km_obs_pg_error(an->m.reg, r);
                if (r == KM_EINPUT) {
                        snprintf(b->msgs[i].reason, sizeof(b->msgs[i].reason),
                                 "rejected_by_database");
                        snprintf(b->msgs[i].detail, sizeof(b->msgs[i].detail),
                                 "%s", err);
                        free(b->msgs[i].row);
                        b->msgs[i].row = NULL;
                        r = an_dead_letter(an, &b->msgs[i], 1, err, errlen);
                        an->dead_lettered++;
                }
                if (r)
                        return r;
        }
        r = analytics_store_batch(an, NULL, 0, b->pos, b->npos, err, errlen);
        km_obs_pg_error(an->m.reg, r);
        return r;
}

/* Write one batch.  @returns 0 or KM_E* (the batch is then not written). */
static int an_write(struct analytics *an, struct an_batch *b, char *err,
                    size_t errlen)
{
        int64_t t0 = km_now_ms(), new0[AN_NTOPICS], dup0[AN_NTOPICS];
        size_t bad = 0;
        int r = 0;

        atomic_store(&an->m.write_since_ms, t0);
        memcpy(new0, an->new_rows, sizeof(new0));
        memcpy(dup0, an->dup_rows, sizeof(dup0));
        for (size_t i = 0; i < b->n; i++)
                bad += b->msgs[i].row == NULL;
        if (bad)
                r = an_dead_letter(an, b->msgs, b->n, err, errlen);
        if (r == 0 && an->ac->naive) {
                for (size_t i = 0; r == 0 && i < b->n; i++)
                        if (b->msgs[i].row)
                                r = analytics_store_naive(an, &b->msgs[i], err,
                                                          errlen);
                if (r == 0)
                        r = analytics_store_batch(an, NULL, 0, b->pos, b->npos,
                                                  err, errlen);
                km_obs_pg_error(an->m.reg, r);
        } else if (r == 0) {
                r = analytics_store_batch(an, b->msgs, b->n, b->pos, b->npos,
                                          err, errlen);
                km_obs_pg_error(an->m.reg, r);
                if (r == KM_EINPUT) {
                        km_log_warn("batch refused (%s); writing it message "
                                    "by message",
                                    err);
                        r = an_store_one_by_one(an, b, err, errlen);
                }
        }
        if (r == KM_EINPUT)
                r = KM_ERETRY;
        if (r == 0) {
                an->dead_lettered += (int64_t)bad;
                an->batches++;
                km_log_debug("batch %lld: %zu message(s) written in %lld ms, "
                             "%lld ms after its first message",
                             (long long)an->batches, b->n,
                             (long long)(km_now_ms() - t0),
                             (long long)(t0 - b->started_ms));
                analytics_metrics_written(an, b, new0, dup0, t0);
        }
        atomic_store(&an->m.write_since_ms, 0);
        return r;
}

static void *an_writer_main(void *arg)
{
        struct analytics *an = arg;
        struct an_writer *w = &an->writer;

        pthread_mutex_lock(&w->mu);
        for (;;) {
                int r;

                while (!w->busy && !w->quit)
                        pthread_cond_wait(&w->cv, &w->mu);
                if (!w->busy)
                        break; /* quit with nothing in hand */
                pthread_mutex_unlock(&w->mu);
                r = an_write(an, &w->job, w->err, sizeof(w->err));
                analytics_batch_clear(&w->job);
                pthread_mutex_lock(&w->mu);
                w->result = r;
                w->busy = 0;
                pthread_cond_broadcast(&w->cv);
        }
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

int analytics_writer_start(struct analytics *an, char *err, size_t errlen)
{
        struct an_writer *w = &an->writer;

        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        w->inited = 1;
        if (pthread_create(&w->th, NULL, an_writer_main, an) != 0)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "cannot start the writer thread");
        w->started = 1;
        return 0;
}

int analytics_writer_wait(struct analytics *an, char *err, size_t errlen)
{
        struct an_writer *w = &an->writer;
        int r;

        if (!w->started)
                return 0;
        pthread_mutex_lock(&w->mu);
        while (w->busy)
                pthread_cond_wait(&w->cv, &w->mu);
        r = w->result;
        w->result = 0;
        if (r)
                km_err_set(err, errlen, r, "%s", w->err);
        pthread_mutex_unlock(&w->mu);
        return r;
}

/* Whether no batch is in flight: the connection is then the consumer
 * thread's until its next analytics_writer_submit. */
int analytics_writer_idle(struct analytics *an)
{
        struct an_writer *w = &an->writer;
        int idle;

        if (!w->started)
                return 1;
        pthread_mutex_lock(&w->mu);
        idle = !w->busy;
        pthread_mutex_unlock(&w->mu);
        return idle;
}

void analytics_writer_submit(struct analytics *an)
{
        struct an_writer *w = &an->writer;
        struct an_batch t;

        pthread_mutex_lock(&w->mu);
        t = w->job; /* empty: cleared by the writer */
        w->job = an->batch;
        an->batch = t;
        w->busy = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
}

void analytics_writer_stop(struct analytics *an)
{
        struct an_writer *w = &an->writer;

        if (w->started) {
                pthread_mutex_lock(&w->mu);
                w->quit = 1;
                pthread_cond_broadcast(&w->cv);
                pthread_mutex_unlock(&w->mu);
                pthread_join(w->th, NULL);
                w->started = 0;
        }
        if (w->inited) {
                analytics_batch_clear(&w->job);
                free(w->job.msgs);
                free(w->job.pos);
                pthread_mutex_destroy(&w->mu);
                pthread_cond_destroy(&w->cv);
                w->inited = 0;
        }
}
