/*
 * web_cache.c - the dashboard's figures, cached for a few seconds to
 * minutes: the analytics views (the KSK rating above all) cost far more
 * than a page may, and they change only when komek-analytics commits a
 * batch.  One entry per (query, parameters); the first request for a
 * missing or stale entry runs the query on the analyst pool while the
 * others wait for it (no stampede).  Results are shared read-only and
 * reference-counted; at most WEB_CACHE_MAX entries, the least recently
 * used unreferenced one goes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "web.h"

#define WEB_CACHE_MAX 256

struct web_centry {
        char *key;
        PGresult *res;     /* NULL while loading */
        int64_t loaded_ms; /* when res was made */
        int64_t used_ms;
        int refs;          /* handed out, not yet released */
        int loading;
        int stale;         /* replaced: free at refs 0 */
        struct web_centry *next;
};

struct web_cache {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        struct web_centry *head;
        int n;
        struct web_centry *retired; /* stale entries still referenced */
};

struct web_cache *web_cache_new(void)
{
        struct web_cache *c = km_xcalloc(1, sizeof(*c));

        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cond, NULL);
        return c;
}

static void web_centry_free(struct web_centry *e)
{
        PQclear(e->res);
        free(e->key);
        free(e);
}

void web_cache_destroy(struct web_cache *c)
{
        struct web_centry *e, *next;

        if (c == NULL)
                return;
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

static PGresult *web_cache_run(struct web *w, const char *sql, int nparams,
                               const char *const *params, char *err,
                               size_t errlen)
{
        PGconn *conn = web_pool_get(&w->analyst, err, errlen);
        PGresult *res = NULL;

        if (conn == NULL)
                return NULL;
        if (km_pg_exec(conn, sql, nparams, params, &res, err, errlen))
                res = NULL;
        web_pool_put(&w->analyst, conn);
        return res;
}

/**
 * @brief The result of sql with params, at most ttl_s old.  Release it
 * with web_cache_release.  @returns NULL with err set on failure.
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
                if (e && e->loading) {
                        pthread_cond_wait(&c->cond, &c->mu);
                        continue;
                }
                if (e && e->res && now - e->loaded_ms < (int64_t)ttl_s * 1000) {
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
                e->next = c->head;
                c->head = e;
                c->n++;
        }
        e->loading = 1;
        pthread_mutex_unlock(&c->mu);

        res = web_cache_run(w, sql, nparams, params, err, errlen);

        pthread_mutex_lock(&c->mu);
        e->loading = 0;
        if (res) {
                if (e->res && e->refs > 0) { /* still in use: retire it */
                        struct web_centry *old = km_xcalloc(1, sizeof(*old));

                        old->res = e->res;
                        old->refs = e->refs;
                        old->stale = 1;
                        old->next = c->retired;
                        c->retired = old;
                } else {
                        PQclear(e->res);
                }
                e->res = res;
                e->refs = 1;
                e->loaded_ms = e->used_ms = km_now_ms();
        }
        pthread_cond_broadcast(&c->cond);
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
