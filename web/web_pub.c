/*
 * web_pub.c - after a change commits, its outbox rows (the task-events
 * message, a re-route's dispatch message) are published by one publisher
 * thread with km_outbox_publish, exactly as komek-inbox does right after
 * its commit; the request does not wait for the broker.  What this
 * process cannot publish (broker down, queue full, a crash) stays
 * unpublished in task_outbox and komek-tasksink relays it.  Consumers
 * deduplicate on event_id.
 *
 * Also the directory a rejection needs to re-route: loaded on the first
 * rejection and again when directory_version moved; rejections are rare
 * and take the directory lock for their km_task_apply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_id.h"
#include "km_kafka.h"
#include "km_log.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_task.h"
#include "km_util.h"
#include "web.h"

#define WEB_PUB_QUEUE 1024

struct web_pub {
        const struct km_conf *conf;
        rd_kafka_t *rk;
        struct km_kafka_counts counts;
        PGconn *conn;
        pthread_t th;
        int started;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        char ids[WEB_PUB_QUEUE][KM_ID_LEN];
        int head, n, stop;
        int64_t published, dropped, failed;
};

static void web_pub_one(struct web_pub *p, const char *id)
{
        char err[512];
        int n = 0, r;

        if (p->conn && PQstatus(p->conn) != CONNECTION_OK) {
                PQfinish(p->conn);
                p->conn = NULL;
        }
        if (p->conn == NULL)
                p->conn = km_pg_connect(p->conf->pg_conninfo,
                                        "komek-web-publisher", 5, err,
                                        sizeof(err));
        if (p->conn == NULL) {
                p->failed++;
                km_log_warn("publish %s: %s (komek-tasksink will relay)", id,
                            err);
                return;
        }
        r = km_outbox_publish(p->conn, p->rk, &p->counts, p->conf, id, 0, 100,
                              &n, err, sizeof(err));
        if (r) {
                p->failed++;
                km_log_warn("publish %s: %s (komek-tasksink will relay)", id,
                            err);
                return;
        }
        p->published += n;
        km_log_debug("published %d outbox message(s) of %s", n, id);
}

static void *web_pub_run(void *arg)
{
        struct web_pub *p = arg;
        char id[KM_ID_LEN];
        int64_t drain_until = 0;

        for (;;) {
                pthread_mutex_lock(&p->mu);
                while (p->n == 0 && !p->stop)
                        pthread_cond_wait(&p->cond, &p->mu);
                if (p->n == 0 ||
                    (p->stop && drain_until && km_now_ms() > drain_until)) {
                        p->dropped += p->n;
                        p->n = 0;
                        pthread_mutex_unlock(&p->mu);
                        break;
                }
                if (p->stop && drain_until == 0)
                        drain_until = km_now_ms() + 10000;
                memcpy(id, p->ids[p->head], KM_ID_LEN);
                p->head = (p->head + 1) % WEB_PUB_QUEUE;
                p->n--;
                pthread_mutex_unlock(&p->mu);
                web_pub_one(p, id);
        }
        return NULL;
}

struct web_pub *web_pub_start(const struct km_conf *conf, char *err,
                              size_t errlen)
{
        struct web_pub *p = km_xcalloc(1, sizeof(*p));

        p->conf = conf;
        p->rk = km_kafka_producer_new(conf, NULL, &p->counts, err, errlen);
        if (p->rk == NULL) {
                free(p);
                return NULL;
        }
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cond, NULL);
        if (pthread_create(&p->th, NULL, web_pub_run, p) != 0) {
                km_err_set(err, errlen, KM_EFATAL,
                           "cannot start the publisher thread");
                web_pub_stop(p);
                return NULL;
        }
        p->started = 1;
        return p;
}

/* Queue the complaint's outbox rows for publishing; a full queue leaves
 * them to komek-tasksink's relay.  @p p NULL-able (publishing off). */
void web_pub_enqueue(struct web_pub *p, const char *complaint_id)
{
        if (p == NULL)
                return;
        pthread_mutex_lock(&p->mu);
        if (p->n < WEB_PUB_QUEUE && !p->stop) {
                snprintf(p->ids[(p->head + p->n) % WEB_PUB_QUEUE], KM_ID_LEN,
                         "%s", complaint_id);
                p->n++;
                pthread_cond_signal(&p->cond);
        } else {
                p->dropped++;
        }
        pthread_mutex_unlock(&p->mu);
}

/* Publish what is queued (up to about 10 s), then stop.  NULL-able. */
void web_pub_stop(struct web_pub *p)
{
        char err[256];

        if (p == NULL)
                return;
        if (p->started) {
                pthread_mutex_lock(&p->mu);
                p->stop = 1;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->mu);
                pthread_join(p->th, NULL);
        }
        if (p->rk && km_kafka_flush(p->rk, 10000, err, sizeof(err)))
                km_log_warn("flush: %s", err);
        km_log_info("publisher: %lld outbox message(s) published, %lld "
                    "change(s) left to the relay (%lld failed, %lld not "
                    "tried)",
                    (long long)p->published,
                    (long long)(p->failed + p->dropped), (long long)p->failed,
                    (long long)p->dropped);
        if (p->rk)
                rd_kafka_destroy(p->rk);
        if (p->conn)
                PQfinish(p->conn);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        free(p);
}

/* A rejection: km_task_apply with the current directory. */
int web_pub_reject(struct web *w, PGconn *conn, const struct km_task_change *ch,
                   struct km_task_result *res, char *err, size_t errlen)
{
        int64_t version = -1;
        int r;

        pthread_mutex_lock(&w->dir_mu);
        r = km_dir_version_get(conn, &version, err, errlen);
        if (r == 0 && (w->dir == NULL || km_dir_version(w->dir) != version)) {
                struct km_dir *dir = NULL;

                r = km_dir_load(conn, &dir, err, errlen);
                if (r == 0) {
                        km_dir_destroy(w->dir);
                        w->dir = dir;
                        km_log_info("directory version %lld loaded: %zu "
                                    "buildings",
                                    (long long)km_dir_version(dir),
                                    km_dir_nbuildings(dir));
                }
        }
        if (r == 0)
                r = km_task_apply(conn, w->conf, w->dir, ch, res, err, errlen);
        pthread_mutex_unlock(&w->dir_mu);
        return r;
}
