/*
 * gateway_record.c - the gateway_requests rows of published complaints,
 * written by one recorder thread: the rows of the POSTs acknowledged
 * while it wrote the previous batch go in one statement and one
 * (synchronous) commit, so 32 concurrent POSTs cost a few round trips and
 * WAL flushes, not 32.  Each POST waits for its own row's commit (its own
 * condition) before it answers 201: a resubmission right after the 201
 * finds the published row, and GET /requests shows it.
 *
 * A batch that fails on its data (KM_EINPUT: a row the table refuses) is
 * written again row by row, so one bad row fails alone.  A connection
 * failure fails the batch; its POSTs still answer 201 (the complaints are
 * on the broker) and a resubmission publishes again (consumers
 * deduplicate on the id), as when one row failed before.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

/* most rows in one statement */
#define GATEWAY_REC_MAX 256

/* The columns of gateway_requests that a POST fills, in p[]'s order. */
static const char *const gateway_rec_cols[GATEWAY_REC_NPARAMS] = {
        "id",           "source",      "external_id", "api_key_id",
        "service_code", "description", "address",     "building_id",
        "lat",          "long",        "media_url",   "requested_at",
};

/* One row's statement: a known unpublished row (written by an older
 * gateway before publishing) keeps its data and is marked published. */
#define GATEWAY_REC_ONE                                                        \
        "INSERT INTO gateway_requests (id, source, external_id, api_key_id, "  \
        "service_code, description, address, building_id, lat, long, "         \
        "media_url, requested_at, published_at) VALUES ($1, $2, $3, $4, $5, "  \
        "$6, $7, $8, $9, $10, $11, $12, now()) ON CONFLICT (id) DO UPDATE "    \
        "SET published_at = now() WHERE gateway_requests.published_at IS NULL"

/* Many rows as one JSON array (one id once: two racing POSTs of the same
 * complaint may be in one batch). */
#define GATEWAY_REC_MANY                                                       \
        "INSERT INTO gateway_requests (id, source, external_id, api_key_id, "  \
        "service_code, description, address, building_id, lat, long, "         \
        "media_url, requested_at, published_at) SELECT DISTINCT ON (id) id, "  \
        "source, external_id, api_key_id, service_code, description, "         \
        "address, building_id, lat, long, media_url, requested_at, now() "     \
        "FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, source text, "       \
        "external_id text, api_key_id bigint, service_code text, description " \
        "text, address text, building_id text, lat double precision, long "    \
        "double precision, media_url text, requested_at timestamptz) ON "      \
        "CONFLICT (id) DO UPDATE SET published_at = now() WHERE "              \
        "gateway_requests.published_at IS NULL"

/* A POST's row, on its request thread's stack while it waits. */
struct gateway_rec {
        struct gateway_rec *next;
        const char *const *p;
        pthread_cond_t cond;
        int done, r;
        char err[256];
};

/* The batch's rows as a JSON array; NULL if one is no valid UTF-8. */
static char *gateway_rec_json(struct gateway_rec *list)
{
        json_t *rows = json_array();
        char *text = NULL;

        for (struct gateway_rec *x = list; x; x = x->next) {
                json_t *o = json_object();

                json_array_append_new(rows, o);
                for (int i = 0; i < GATEWAY_REC_NPARAMS; i++) {
                        json_t *v =
                                x->p[i] ? json_string(x->p[i]) : json_null();

                        if (v == NULL)
                                goto cleanup;
                        json_object_set_new(o, gateway_rec_cols[i], v);
                }
        }
        text = json_dumps(rows, JSON_COMPACT);
cleanup:
        json_decref(rows);
        return text;
}

/* Write the rows of list; each gets its own result. */
static void gateway_rec_write(struct gateway *gw, struct gateway_rec *list,
                              int n)
{
        struct km_pgslot *slot;
        char err[512];
        char *json = NULL;
        int r;

        slot = gateway_pg_get(gw, err, sizeof(err));
        if (slot == NULL) {
                r = KM_ERETRY;
                goto done;
        }
        if (n > 1 && (json = gateway_rec_json(list)) != NULL) {
                const char *p[1] = {json};

                r = km_pg_exec_prepared(slot->conn, "gateway_rec_many",
                                        GATEWAY_REC_MANY, 1, p, NULL, err,
                                        sizeof(err));
                free(json);
                if (r != KM_EINPUT)
                        goto done;
        }
        /* one row, or a batch refused for its data: row by row */
        for (struct gateway_rec *x = list; x; x = x->next) {
                x->r = km_pg_exec_prepared(slot->conn, "gateway_rec_one",
                                           GATEWAY_REC_ONE, GATEWAY_REC_NPARAMS,
                                           x->p, NULL, x->err, sizeof(x->err));
                km_obs_pg_error(gw->m.reg, x->r);
        }
        km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
        return;
done:
        km_obs_pg_error(gw->m.reg, r);
        for (struct gateway_rec *x = list; x; x = x->next) {
                x->r = r;
                snprintf(x->err, sizeof(x->err), "%s", err);
        }
        if (slot)
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
}

static void *gateway_recorder(void *arg)
{
        struct gateway *gw = arg;
        struct gateway_recorder *rc = &gw->rec;

        pthread_mutex_lock(&rc->lock);
        for (;;) {
                struct gateway_rec *list, *last, *next;
                int n;

                while (rc->head == NULL && !rc->stop)
                        pthread_cond_wait(&rc->cond, &rc->lock);
                if (rc->head == NULL)
                        break; /* stopped and nothing left */
                /* the first GATEWAY_REC_MAX waiting rows */
                list = last = rc->head;
                for (n = 1; last->next && n < GATEWAY_REC_MAX; n++)
                        last = last->next;
                rc->head = last->next;
                last->next = NULL;
                if (rc->head == NULL)
                        rc->tail = &rc->head;
                pthread_mutex_unlock(&rc->lock);
                gateway_rec_write(gw, list, n);
                pthread_mutex_lock(&rc->lock);
                for (struct gateway_rec *x = list; x; x = next) {
                        next = x->next; /* x is gone once woken */
                        x->done = 1;
                        pthread_cond_signal(&x->cond);
                }
        }
        pthread_mutex_unlock(&rc->lock);
        return NULL;
}

int gateway_record_start(struct gateway *gw, char *err, size_t errlen)
{
        struct gateway_recorder *rc = &gw->rec;

        pthread_mutex_init(&rc->lock, NULL);
        pthread_cond_init(&rc->cond, NULL);
        rc->head = NULL;
        rc->tail = &rc->head;
        rc->stop = 0;
        for (rc->running = 0; rc->running < GATEWAY_RECORDERS; rc->running++)
                if (pthread_create(&rc->thread[rc->running], NULL,
                                   gateway_recorder, gw) != 0) {
                        gateway_record_stop(gw);
                        return km_err_set(err, errlen, KM_EFATAL,
                                          "cannot start the recorder "
                                          "threads");
                }
        return 0;
}

void gateway_record_stop(struct gateway *gw)
{
        struct gateway_recorder *rc = &gw->rec;

        if (rc->tail == NULL) /* never started */
                return;
        pthread_mutex_lock(&rc->lock);
        rc->stop = 1;
        pthread_cond_broadcast(&rc->cond);
        pthread_mutex_unlock(&rc->lock);
        while (rc->running > 0) /* they write what is queued first */
                pthread_join(rc->thread[--rc->running], NULL);
        rc->tail = NULL;
        pthread_cond_destroy(&rc->cond);
        pthread_mutex_destroy(&rc->lock);
}

int gateway_record(struct gateway *gw, const char *const *p, char *err,
                   size_t errlen)
{
        struct gateway_recorder *rc = &gw->rec;
        struct gateway_rec x;

        memset(&x, 0, sizeof(x));
        x.p = p;
        pthread_cond_init(&x.cond, NULL);
        pthread_mutex_lock(&rc->lock);
        *rc->tail = &x;
        rc->tail = &x.next;
        pthread_cond_signal(&rc->cond);
        while (!x.done)
                pthread_cond_wait(&x.cond, &rc->lock);
        pthread_mutex_unlock(&rc->lock);
        pthread_cond_destroy(&x.cond);
        if (x.r)
                snprintf(err, errlen, "%s", x.err);
        return x.r;
}
