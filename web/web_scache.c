/*
 * web_scache.c - validated sessions, remembered for web.session_cache_ms
 * (default 2 s) so that a page does not cost a database round trip just
 * to find its session.  Keyed by the hash of the cookie's id; an entry
 * also keeps its expiry, checked on every use.  Signing out in this
 * process forgets the entry at once; a session ended elsewhere (komek-web
 * users disable or passwd, another komek-web process, expiry moved in the
 * database) is still honoured here for at most web.session_cache_ms.
 * At most WEB_SCACHE_MAX entries: when full, the cache is emptied.
 */
#include <stdlib.h>
#include <string.h>

#include "km_util.h"
#include "web.h"

#define WEB_SCACHE_BUCKETS 1024
#define WEB_SCACHE_MAX 8192

struct web_sentry {
        struct web_session s;
        int64_t checked_ms; /* monotonic: when the database said so */
        int64_t expires_s;  /* wall clock: the session's expiry */
        struct web_sentry *next;
};

struct web_scache {
        pthread_mutex_t mu;
        int n;
        struct web_sentry *b[WEB_SCACHE_BUCKETS];
};

struct web_scache *web_scache_new(void)
{
        struct web_scache *c = km_xcalloc(1, sizeof(*c));

        pthread_mutex_init(&c->mu, NULL);
        return c;
}

static void web_scache_clear(struct web_scache *c)
{
        for (int i = 0; i < WEB_SCACHE_BUCKETS; i++) {
                struct web_sentry *e, *next;

                for (e = c->b[i]; e; e = next) {
                        next = e->next;
                        free(e);
                }
                c->b[i] = NULL;
        }
        c->n = 0;
}

void web_scache_destroy(struct web_scache *c)
{
        if (c == NULL)
                return;
        web_scache_clear(c);
        pthread_mutex_destroy(&c->mu);
        free(c);
}

static unsigned web_scache_bucket(const char *id_hash)
{
        return (unsigned)strtoul((char[9]){id_hash[0], id_hash[1], id_hash[2],
                                           id_hash[3], id_hash[4], id_hash[5],
                                           id_hash[6], id_hash[7], 0},
                                 NULL, 16) %
               WEB_SCACHE_BUCKETS;
}

/* @returns 1 and *s when a fresh entry for s->id_hash is there. */
int web_scache_get(struct web_scache *c, int64_t ttl_ms, struct web_session *s)
{
        struct web_sentry *e;
        int hit = 0;

        if (c == NULL || ttl_ms <= 0)
                return 0;
        pthread_mutex_lock(&c->mu);
        for (e = c->b[web_scache_bucket(s->id_hash)]; e; e = e->next)
                if (strcmp(e->s.id_hash, s->id_hash) == 0)
                        break;
        if (e && km_now_ms() - e->checked_ms < ttl_ms &&
            km_wall_s() < e->expires_s) {
                *s = e->s;
                hit = 1;
        }
        pthread_mutex_unlock(&c->mu);
        return hit;
}

void web_scache_put(struct web_scache *c, const struct web_session *s,
                    int64_t expires_s)
{
        struct web_sentry *e, **head;

        if (c == NULL)
                return;
        pthread_mutex_lock(&c->mu);
        head = &c->b[web_scache_bucket(s->id_hash)];
        for (e = *head; e; e = e->next)
                if (strcmp(e->s.id_hash, s->id_hash) == 0)
                        break;
        if (e == NULL) {
                if (c->n >= WEB_SCACHE_MAX)
                        web_scache_clear(c);
                e = km_xcalloc(1, sizeof(*e));
                e->next = *head;
                *head = e;
                c->n++;
        }
        e->s = *s;
        e->checked_ms = km_now_ms();
        e->expires_s = expires_s;
        pthread_mutex_unlock(&c->mu);
}

void web_scache_drop(struct web_scache *c, const char *id_hash)
{
        struct web_sentry **pp;

        if (c == NULL)
                return;
        pthread_mutex_lock(&c->mu);
        for (pp = &c->b[web_scache_bucket(id_hash)]; *pp; pp = &(*pp)->next)
                if (strcmp((*pp)->s.id_hash, id_hash) == 0) {
                        struct web_sentry *e = *pp;

                        *pp = e->next;
                        free(e);
                        c->n--;
                        break;
                }
        pthread_mutex_unlock(&c->mu);
}
