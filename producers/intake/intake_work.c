/*
 * intake_work.c - the pipeline and its CPU part.
 *
 * The reader (main thread, intake_input.c) fills batches of up to
 * INTAKE_BATCH records; intake.threads workers each take a whole batch and
 * put every record through the common model (km_complaint_parse_ex for
 * JSON Lines, with intake.source for a missing source;
 * km_complaint_from_json for a CSV row's object; KM_CPL_INTAKE), keeping
 * the canonical text in the batch's out block for the producer (the
 * complaint, its text included, is freed by the thread that made it:
 * allocations do not wander between threads' arenas) or the reason and
 * detail of the dead letter; one publisher thread
 * (intake_publish.c) produces the batches strictly in the order they were
 * read, so one building's complaints keep their order on the topic.
 * Reading, validating and producing overlap; a bounded pool of batches
 * (workers + 3) bounds memory and holds the reader back when the broker
 * is slower than the input.
 *
 * Thread safety: the configuration is read-only; a batch belongs to one
 * stage at a time (handed on under pipe.mu); counters of the publisher's
 * are read by others only after it is joined (in->read and in->stopped are
 * atomic).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake.h"
#include "km_complaint.h"
#include "km_log.h"
#include "km_util.h"

/* Validate one record into *c, or set reason and err. */
static int intake_parse(const struct intake *in, struct intake_item *it,
                        const char *buf, int64_t now, struct km_complaint **c,
                        char *err, size_t errlen)
{
        const struct km_conf *conf = in->conf;

        if (it->obj) {
                if (it->len > (size_t)conf->max_message_bytes) {
                        snprintf(it->reason, sizeof(it->reason), "too_large");
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "record of %zu bytes exceeds %lld",
                                          it->len,
                                          (long long)conf->max_message_bytes);
                }
                if (in->ic->source &&
                    json_object_get(it->obj, "source") == NULL)
                        json_object_set_new(it->obj, "source",
                                            json_string(in->ic->source));
                return km_complaint_from_json(it->obj, conf, KM_CPL_INTAKE, now,
                                              c, it->reason, err, errlen);
        }
        return km_complaint_parse_ex(buf, it->len, conf, KM_CPL_INTAKE, now,
                                     in->ic->source, c, it->reason, err,
                                     errlen);
}

static void intake_work_item(const struct intake *in, struct intake_batch *b,
                             struct intake_item *it, int64_t now)
{
        struct km_complaint *c = NULL;
        const char *key, *text;
        char err[512], *dumped = NULL;
        size_t n, tlen;

        if (it->reason[0] != '\0')
                return; /* already rejected by the reader */
        if (intake_parse(in, it, b->data + it->off, now, &c, err,
                         sizeof(err))) {
                it->detail = km_xstrdup(err);
                return;
        }
        it->valid = 1;
        /* a CSV row's complaint (km_complaint_from_json) has its tree,
         * not yet its text */
        text = c->canon ? c->canon : (dumped = km_complaint_dumps(c, 0));
        tlen = c->canon ? c->canon_len : strlen(text);
        if (b->olen + tlen > b->ocap) {
                b->ocap = (b->olen + tlen) * 2;
                if (b->ocap < 65536)
                        b->ocap = 65536;
                b->out = km_xrealloc(b->out, b->ocap);
        }
        memcpy(b->out + b->olen, text, tlen);
        free(dumped);
        it->poff = b->olen;
        it->plen = tlen;
        b->olen += tlen;
        key = c->building_id ? c->building_id : c->id;
        n = strlen(key); /* a building id is at most 32, an id 36 */
        if (n >= sizeof(it->key))
                n = sizeof(it->key) - 1;
        memcpy(it->key, key, n);
        it->key[n] = '\0';
        km_complaint_destroy(c);
}

static void *intake_worker_run(void *arg)
{
        struct intake *in = arg;
        struct intake_pipe *p = &in->pipe;
        struct intake_batch *b;

        for (;;) {
                pthread_mutex_lock(&p->mu);
                while (p->work_head == NULL && !p->closing)
                        pthread_cond_wait(&p->work_cv, &p->mu);
                b = p->work_head;
                if (b == NULL) { /* closing and nothing left */
                        pthread_mutex_unlock(&p->mu);
                        return NULL;
                }
                p->work_head = b->next;
                if (p->work_head == NULL)
                        p->work_tail = NULL;
                pthread_mutex_unlock(&p->mu);

                /* one clock reading per batch (received_at's future
                 * check: a batch is read within milliseconds) */
                int64_t now = km_wall_s();

                b->olen = 0;
                for (size_t i = 0; i < b->n; i++)
                        intake_work_item(in, b, &b->items[i], now);

                pthread_mutex_lock(&p->mu);
                b->next = p->done_list;
                p->done_list = b;
                pthread_cond_broadcast(&p->done_cv);
                pthread_mutex_unlock(&p->mu);
        }
}

/* The next batch in sequence from the done list, or NULL.  Under p->mu. */
static struct intake_batch *intake_take_next(struct intake_pipe *p)
{
        for (struct intake_batch **pp = &p->done_list; *pp; pp = &(*pp)->next) {
                if ((*pp)->seq == p->seq_out) {
                        struct intake_batch *b = *pp;

                        *pp = b->next;
                        return b;
                }
        }
        return NULL;
}

/* The publisher: the worked batches in sequence order; while it waits it
 * serves delivery reports and the progress line. */
static void *intake_publisher_run(void *arg)
{
        struct intake *in = arg;
        struct intake_pipe *p = &in->pipe;

        for (;;) {
                struct intake_batch *b;
                struct timespec ts;

                pthread_mutex_lock(&p->mu);
                while ((b = intake_take_next(p)) == NULL &&
                       !(p->closing && p->seq_out == p->seq_in)) {
                        pthread_mutex_unlock(&p->mu);
                        intake_progress(in, 0); /* delivery reports */
                        pthread_mutex_lock(&p->mu);
                        if ((b = intake_take_next(p)) != NULL ||
                            (p->closing && p->seq_out == p->seq_in))
                                break;
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 100 * 1000000L;
                        if (ts.tv_nsec >= 1000000000L)
                                ts.tv_sec++, ts.tv_nsec -= 1000000000L;
                        pthread_cond_timedwait(&p->done_cv, &p->mu, &ts);
                }
                pthread_mutex_unlock(&p->mu);
                if (b == NULL)
                        return NULL;

                intake_publish(in, b); /* produces, then empties b */

                pthread_mutex_lock(&p->mu);
                p->seq_out++;
                b->next = p->free_list;
                p->free_list = b;
                pthread_cond_broadcast(&p->free_cv);
                pthread_mutex_unlock(&p->mu);
        }
}

int intake_pipe_start(struct intake *in, char *err, size_t errlen)
{
        struct intake_pipe *p = &in->pipe;
        int nw = (int)in->ic->threads;

        if (nw < 1)
                nw = 1;
        if (nw > INTAKE_MAX_THREADS)
                nw = INTAKE_MAX_THREADS;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->work_cv, NULL);
        pthread_cond_init(&p->done_cv, NULL);
        pthread_cond_init(&p->free_cv, NULL);
        p->npool = (size_t)nw + 3;
        p->pool = km_xcalloc(p->npool, sizeof(*p->pool));
        for (size_t i = 0; i < p->npool; i++) {
                struct intake_batch *b = &p->pool[i];

                b->cap = INTAKE_BATCH;
                b->items = km_xcalloc(b->cap, sizeof(*b->items));
                b->next = p->free_list;
                p->free_list = b;
        }
        if (pthread_create(&p->publisher, NULL, intake_publisher_run, in))
                return km_err_set(err, errlen, KM_EFATAL,
                                  "cannot start the publisher thread");
        p->publisher_up = 1;
        for (int i = 0; i < nw; i++) {
                if (pthread_create(&p->workers[i], NULL, intake_worker_run,
                                   in)) {
                        if (p->nworkers > 0)
                                break; /* fewer workers, still correct */
                        return km_err_set(err, errlen, KM_EFATAL,
                                          "cannot start a worker thread");
                }
                p->nworkers++;
        }
        return 0;
}

struct intake_batch *intake_pipe_get(struct intake *in)
{
        struct intake_pipe *p = &in->pipe;
        struct intake_batch *b;

        pthread_mutex_lock(&p->mu);
        while (p->free_list == NULL)
                pthread_cond_wait(&p->free_cv, &p->mu);
        b = p->free_list;
        p->free_list = b->next;
        pthread_mutex_unlock(&p->mu);
        b->next = NULL;
        b->n = 0;
        b->dlen = 0;
        b->file = NULL;
        return b;
}

void intake_pipe_submit(struct intake *in, struct intake_batch *b)
{
        struct intake_pipe *p = &in->pipe;

        pthread_mutex_lock(&p->mu);
        b->seq = p->seq_in++;
        b->next = NULL;
        if (p->work_tail)
                p->work_tail->next = b;
        else
                p->work_head = b;
        p->work_tail = b;
        pthread_cond_signal(&p->work_cv);
        pthread_mutex_unlock(&p->mu);
}

void intake_pipe_finish(struct intake *in)
{
        struct intake_pipe *p = &in->pipe;

        intake_flush(in);
        if (p->pool == NULL)
                return;
        pthread_mutex_lock(&p->mu);
        p->closing = 1;
        pthread_cond_broadcast(&p->work_cv);
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < p->nworkers; i++)
                pthread_join(p->workers[i], NULL);
        p->nworkers = 0;
        if (p->publisher_up)
                pthread_join(p->publisher, NULL);
        p->publisher_up = 0;
}

void intake_pipe_destroy(struct intake *in)
{
        struct intake_pipe *p = &in->pipe;

        if (p->pool == NULL)
                return;
        for (size_t i = 0; i < p->npool; i++) {
                free(p->pool[i].items);
                free(p->pool[i].data);
                free(p->pool[i].out);
        }
        free(p->pool);
        p->pool = NULL;
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->work_cv);
        pthread_cond_destroy(&p->done_cv);
        pthread_cond_destroy(&p->free_cv);
}
