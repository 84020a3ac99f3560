/*
 * web_cache.c - the dashboard's figures, cached for seconds to minutes:
 * the analytics views (the KSK rating above all: ~0.3 s on the city) cost
 * far more than a page may, and they change only when komek-analytics
 * commits a batch.  One entry per (query, parameters).
 *
 * - The first request for an entry runs its query on the analyst pool;
 *   requests for the same entry meanwhile wait for it (no stampede).
 * - A refresher thread re-runs an entry that was used in the last minute
 *   shortly before it goes stale (at 80% of its time to live), so pages
 *   are served from memory and never wait for a refresh.  An entry that is
 *   stale anyway (ttl 0, or the refresher behind) is refreshed by the
 *   request that finds it, while the others get the stale result.
 * - Results are shared read-only and reference-counted; a replaced result
 *   is freed when its last reader releases it.  At most WEB_CACHE_MAX
 *   entries: the least recently used unreferenced one goes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "web.h"

#define WEB_CACHE_MAX 256
#define WEB_CACHE_IDLE_MS 60000 /* not used this long: not refreshed ahead */

struct web_centry {
        char *key;
        PGresult *res;     /* NULL until first loaded */
        int64_t loaded_ms; /* when res was made */
        int64_t used_ms;
        int64_t ttl_ms;
        int refs; /* handed out, not yet released */
        int loading;
        /* what to run again */
        const char *sql; /* static */
        int nparams;
        char *params[4];
        struct web_centry *next;
};

struct web_cache {
        struct web *w;
        pthread_mutex_t mu;
        pthread_cond_t cond;
        struct web_centry *head;
        int n;
        struct web_centry *retired; /* replaced results still referenced */
        pthread_t th;
        int started, stop;
};

static void web_centry_free(struct web_centry *e)
{
        PQclear(e->res);
        for (int i = 0; i < 4; i++)
                free(e->params[i]);
        free(e->key);
        free(e);
}

static PGresult *web_cache_run(struct web *w, const char *sql, int nparams,
                               const char *const *params, char *err,
                               size_t errlen)
{
        PGconn *conn = web_pg_get(&w->analyst, err, errlen);
        PGresult *res = NULL;

        if (conn == NULL)
                return NULL;
        if (km_pg_exec(conn, sql, nparams, params, &res, err, errlen))
                res = NULL;
        km_pgpool_put_conn(&w->analyst, conn);
        return res;
}

/* Put a new result into e (under mu; e->loading is cleared). */
static void web_cache_store(struct web_cache *c, struct web_centry *e,
                            PGresult *res)
{
        e->loading = 0;
        if (res) {
                if (e->res && e->refs > 0) { /* still read: retire it */
                        struct web_centry *old = km_xcalloc(1, sizeof(*old));

                        old->res = e->res;
                        old->refs = e->refs;
                        old->next = c->retired;
                        c->retired = old;
                } else {
                        PQclear(e->res);
                }
                e->res = res;
                e->refs = 0;
                e->loaded_ms = km_now_ms();
        }
        pthread_cond_broadcast(&c->cond);
}

/* The refresher: entries in use, shortly before they go stale. */
static void *web_cache_refresher(void *arg)
{
        struct web_cache *c = arg;
        char err[512];

        pthread_mutex_lock(&c->mu);
        while (!c->stop) {
                struct timespec ts;
                struct web_centry *e, *due = NULL;
                int64_t now = km_now_ms();

                for (e = c->head; e && due == NULL; e = e->next)
                        if (e->res && !e->loading && e->ttl_ms >= 1000 &&
                            now - e->used_ms < WEB_CACHE_IDLE_MS &&
                            now - e->loaded_ms >= e->ttl_ms * 4 / 5)
                                due = e;
                if (due == NULL) {
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_nsec += 200 * 1000000L;
                        if (ts.tv_nsec >= 1000000000L) {
                                ts.tv_sec++;
                                ts.tv_nsec -= 1000000000L;
                        }
                        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
                        continue;
                }
                due->loading = 1;
                pthread_mutex_unlock(&c->mu);
                {
                        PGresult *res =
                                web_cache_run(c->w, due->sql, due->nparams,
                                              (const char *const *)due->params,
                                              err, sizeof(err));

                        if (res == NULL)
                                km_log_warn("dashboard refresh: %s", err);
                        pthread_mutex_lock(&c->mu);
                        if (res == NULL) /* try again after a while */
                                due->loaded_ms = km_now_ms() - due->ttl_ms / 2;
                        web_cache_store(c, due, res);
                }
        }
        pthread_mutex_unlock(&c->mu);
        return NULL;
}

struct web_cache *web_cache_new(struct web *w)
{
        struct web_cache *c = km_xcalloc(1, sizeof(*c));

        c->w = w;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cond, NULL);
        c->started = pthread_create(&c->th, NULL, web_cache_refresher, c) == 0;
        if (!c->started)
                km_log_warn("no cache refresher thread: pages refresh");
        return c;
}

void web_cache_destroy(struct web_cache *c)
{
        struct web_centry *e, *next;

        if (c == NULL)
                return;
        if (c->started) {
                pthread_mutex_lock(&c->mu);
                c->stop = 1;
                pthread_cond_broadcast(&c->cond);
                pthread_mutex_unlock(&c->mu);
                pthread_join(c->th, NULL);
        }
        for (e = c->head; e; e = next) {
                next = e->next;
                web_centry_free(e);
        }
        for (e = c->retired; e; e = next) {
                next = e->next;
                web_centry_free(e);
        }
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->mu);
        free(c);
}

/* Drop the least recently used unreferenced entry (under mu). */
static void web_cache_evict(struct web_cache *c)
{
        struct web_centry **pp, **victim = NULL;

        for (pp = &c->head; *pp; pp = &(*pp)->next)
                if ((*pp)->refs == 0 && !(*pp)->loading &&
                    (victim == NULL || (*pp)->used_ms < (*victim)->used_ms))
                        victim = pp;
        if (victim) {
                struct web_centry *e = *victim;

                *victim = e->next;
                web_centry_free(e);
                c->n--;
        }
}

/**
 * @brief The result of sql (a static string) with params, at most ttl_s
 * old (or stale while another request refreshes it).  Release it with
 * web_cache_release.  @returns NULL with err set on failure.
 */
PGresult *web_cache_query(struct web *w, const char *key, int ttl_s,
                          const char *sql, int nparams,
                          const char *const *params, char *err, size_t errlen)
{
        struct web_cache *c = w->cache;
        struct web_centry *e;
        PGresult *res;
        int64_t now;

        pthread_mutex_lock(&c->mu);
        for (;;) {
                now = km_now_ms();
                for (e = c->head; e; e = e->next)
                        if (strcmp(e->key, key) == 0)
                                break;
                if (e && e->loading && e->res == NULL) {
                        pthread_cond_wait(&c->cond, &c->mu);
                        continue;
                }
                if (e && e->res &&
                    (e->loading ||
                     now - e->loaded_ms < (int64_t)ttl_s * 1000)) {
                        e->refs++;
                        e->used_ms = now;
                        res = e->res;
                        pthread_mutex_unlock(&c->mu);
                        return res;
                }
                break;
        }
        if (e == NULL) {
                if (c->n >= WEB_CACHE_MAX)
                        web_cache_evict(c);
                e = km_xcalloc(1, sizeof(*e));
                e->key = km_xstrdup(key);
                e->sql = sql;
                e->nparams = nparams < 4 ? nparams : 4;
                for (int i = 0; i < e->nparams; i++)
                        e->params[i] = km_xstrdup(params[i]);
                e->next = c->head;
                c->head = e;
                c->n++;
        }
        e->ttl_ms = (int64_t)ttl_s * 1000;
        e->used_ms = now;
        e->loading = 1;
        pthread_mutex_unlock(&c->mu);

        res = web_cache_run(w, sql, nparams, params, err, errlen);

        pthread_mutex_lock(&c->mu);
        web_cache_store(c, e, res);
        if (res)
                e->refs++;
        pthread_mutex_unlock(&c->mu);
        return res;
}

void web_cache_release(struct web *w, PGresult *res)
{
        struct web_cache *c = w->cache;
        struct web_centry *e, **pp;

        if (res == NULL)
                return;
        pthread_mutex_lock(&c->mu);
        for (e = c->head; e; e = e->next)
                if (e->res == res) {
                        e->refs--;
                        pthread_mutex_unlock(&c->mu);
                        return;
                }
        for (pp = &c->retired; *pp; pp = &(*pp)->next)
                if ((*pp)->res == res) {
                        e = *pp;
                        if (--e->refs == 0) {
                                *pp = e->next;
                                web_centry_free(e);
                        }
                        break;
                }
        pthread_mutex_unlock(&c->mu);
}
