/*
 * intake_work.c - the CPU part of intake: each record of a batch through
 * the common model (km_complaint_parse for JSON Lines,
 * km_complaint_from_json for a CSV row's object, KM_CPL_INTAKE), then
 * serialised (km_complaint_dumps) or turned into its dead letter
 * (km_dlq_build, origin {file, line}).  The batch is split over
 * intake.threads threads (striped, so slow records spread evenly); the
 * items stay in input order and intake_flush publishes them in that order,
 * so one building's complaints keep their order on the topic.
 *
 * Thread safety: workers share only the read-only configuration; each
 * touches its own items (jansson values are not shared between threads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "km_complaint.h"
#include "km_util.h"

/* Validate one record into *c, or set reason and err. */
static int intake_parse(const struct intake *in, struct intake_item *it,
                        struct km_complaint **c, char *err, size_t errlen)
{
        const struct km_conf *conf = in->conf;
        int64_t now = km_wall_s();
        json_error_t jerr;
        json_t *obj;
        int r;

        if (it->obj) {
                if (it->len > (size_t)conf->max_message_bytes) {
                        snprintf(it->reason, sizeof(it->reason), "too_large");
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "record of %zu bytes exceeds %lld",
                                          it->len,
                                          (long long)conf->max_message_bytes);
                }
                if (in->ic->source && json_object_get(it->obj, "source") == NULL)
                        json_object_set_new(it->obj, "source",
                                            json_string(in->ic->source));
                return km_complaint_from_json(it->obj, conf, KM_CPL_INTAKE,
                                              now, c, it->reason, err, errlen);
        }
        r = km_complaint_parse(it->buf, it->len, conf, KM_CPL_INTAKE, now, c,
                               it->reason, err, errlen);
        if (r == KM_EINPUT && in->ic->source &&
            strcmp(it->reason, "missing_field:source") == 0) {
                /* valid JSON without a source: fill it in and validate */
                obj = json_loadb(it->buf, it->len, JSON_REJECT_DUPLICATES,
                                 &jerr);
                if (obj == NULL || !json_is_object(obj)) {
                        json_decref(obj);
                        return r;
                }
                json_object_set_new(obj, "source",
                                    json_string(in->ic->source));
                r = km_complaint_from_json(obj, conf, KM_CPL_INTAKE, now, c,
                                           it->reason, err, errlen);
                json_decref(obj);
        }
        return r;
}

static void intake_work_item(const struct intake *in, const char *file,
                             struct intake_item *it)
{
        struct km_complaint *c = NULL;
        char err[512];
        json_t *origin;
        size_t keep;

        if (it->reason[0] == '\0') { /* not already rejected by the reader */
                if (intake_parse(in, it, &c, err, sizeof(err)) == 0) {
                        it->valid = 1;
                        it->payload = km_complaint_dumps(c, 0);
                        it->key = km_xstrdup(c->building_id ? c->building_id
                                                            : c->id);
                        km_complaint_destroy(c);
                        return;
                }
                it->detail = km_xstrdup(err);
        }
        /* the original stays under the broker's message size */
        keep = it->len;
        if (keep > (size_t)in->conf->max_message_bytes)
                keep = (size_t)in->conf->max_message_bytes;
        origin = json_object();
        json_object_set_new(origin, "file", json_string(file));
        json_object_set_new(origin, "line", json_integer(it->line));
        if (keep < it->len)
                json_object_set_new(origin, "truncated", json_true());
        it->payload = km_dlq_build(it->reason, it->detail, it->buf, keep,
                                   origin);
}

struct intake_worker {
        const struct intake *in;
        size_t first, step;
};

static void *intake_worker_run(void *arg)
{
        const struct intake_worker *w = arg;
        const struct intake_batch *b = &w->in->batch;

        for (size_t i = w->first; i < b->n; i += w->step)
                intake_work_item(w->in, b->file, &b->items[i]);
        return NULL;
}

void intake_work(struct intake *in)
{
        struct intake_worker w[INTAKE_MAX_THREADS];
        pthread_t tid[INTAKE_MAX_THREADS];
        size_t nt = (size_t)in->ic->threads;
        size_t started = 0;

        if (nt < 1)
                nt = 1;
        if (nt > INTAKE_MAX_THREADS)
                nt = INTAKE_MAX_THREADS;
        if (in->batch.n < 64)
                nt = 1; /* not worth a thread */
        for (size_t k = 0; k < nt; k++) {
                w[k].in = in;
                w[k].first = k;
                w[k].step = nt;
        }
        /* workers 1.. in threads, worker 0 here */
        for (size_t k = 1; k < nt; k++) {
                if (pthread_create(&tid[k], NULL, intake_worker_run, &w[k]))
                        break;
                started = k;
        }
        if (started + 1 < nt) { /* could not start them all: do it here */
                for (size_t k = started + 1; k < nt; k++)
                        intake_worker_run(&w[k]);
        }
        intake_worker_run(&w[0]);
        for (size_t k = 1; k <= started; k++)
                pthread_join(tid[k], NULL);
}
