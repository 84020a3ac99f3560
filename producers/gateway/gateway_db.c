/*
 * gateway_db.c - the PostgreSQL connection pools (gateway.pg_pool
 * connections each, common/km_pgpool.c), the API key lookup (SHA-256 of
 * the presented key, never the key itself; a found key is cached for
 * GATEWAY_KEY_TTL_MS, so a burst of POSTs costs one query, and a revoked
 * key is refused at most that long after komek-keys revoke; unknown keys
 * are never cached, a new key works at once) and the per-key rate limit: a token bucket in this process's memory holding
 * up to rate_limit tokens and refilled at rate_limit per minute.  With
 * several gateway processes each enforces the limit on its own (XXX: a
 * shared limit would need PostgreSQL or a proxy).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "km_hash.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

#define GATEWAY_TASKS_RECHECK_MS 30000

/* The pool's connection, and whether the tasks tables are there (looked
 * up again every GATEWAY_TASKS_RECHECK_MS; slot->mark). */
static struct km_pgslot *gateway_pool_get(struct km_pgpool *pool, char *err,
                                          size_t errlen)
{
        struct km_pgslot *slot = km_pgpool_get(pool, err, errlen);

        if (slot && km_now_ms() - slot->mark_ms > GATEWAY_TASKS_RECHECK_MS) {
                PGresult *res = NULL;
                char e2[256];

                if (km_pg_exec(slot->conn,
                               "SELECT to_regclass('tasks') IS NOT NULL AND "
                               "to_regclass('organisations') IS NOT NULL",
                               0, NULL, &res, e2, sizeof(e2)) == 0) {
                        slot->mark = PQgetvalue(res, 0, 0)[0] == 't';
                        slot->mark_ms = km_now_ms();
                }
                PQclear(res);
        }
        return slot;
}

struct km_pgslot *gateway_pg_get(struct gateway *gw, char *err, size_t errlen)
{
        return gateway_pool_get(&gw->pool, err, errlen);
}

struct km_pgslot *gateway_pg_get_read(struct gateway *gw, char *err,
                                      size_t errlen)
{
        return gateway_pool_get(gw->rpool.slots ? &gw->rpool : &gw->pool, err,
                                errlen);
}

int gateway_pg_has_tasks(struct km_pgslot *slot)
{
        return slot->mark;
}

/* The API key cache: the SHA-256 (hex) of a key the database said is
 * valid, its row, and until when to believe it.  A handful of integrations
 * hold keys; GATEWAY_KEY_CACHE entries, the oldest replaced. */
#define GATEWAY_KEY_TTL_MS 2000
#define GATEWAY_KEY_CACHE 64

struct gateway_key_entry {
        char sha[KM_SHA256_HEX];
        int64_t id, rate, until_ms;
        char source[80], channel[24];
};

static pthread_mutex_t gateway_key_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gateway_key_entry gateway_keys[GATEWAY_KEY_CACHE];
static int64_t gateway_key_ttl_ms = GATEWAY_KEY_TTL_MS;

/* Tests: the cache's lifetime (0 turns it off). */
void gateway_key_cache_ttl(int64_t ms);
void gateway_key_cache_ttl(int64_t ms)
{
        pthread_mutex_lock(&gateway_key_mu);
        gateway_key_ttl_ms = ms;
        memset(gateway_keys, 0, sizeof(gateway_keys));
        pthread_mutex_unlock(&gateway_key_mu);
}

static int gateway_key_cached(const char *hex, int64_t *id, char *source,
                              size_t slen, char *channel, size_t clen,
                              int64_t *rate)
{
        int64_t now = km_now_ms();
        int hit = 0;

        pthread_mutex_lock(&gateway_key_mu);
        for (int i = 0; i < GATEWAY_KEY_CACHE && !hit; i++) {
                const struct gateway_key_entry *e = &gateway_keys[i];

                if (e->until_ms > now && strcmp(e->sha, hex) == 0) {
                        *id = e->id;
                        *rate = e->rate;
                        snprintf(source, slen, "%s", e->source);
                        snprintf(channel, clen, "%s", e->channel);
                        hit = 1;
                }
        }
        pthread_mutex_unlock(&gateway_key_mu);
        return hit;
}

static void gateway_key_remember(const char *hex, int64_t id,
                                 const char *source, const char *channel,
                                 int64_t rate)
{
        struct gateway_key_entry *e = NULL;
        int64_t now = km_now_ms();

        pthread_mutex_lock(&gateway_key_mu);
        if (gateway_key_ttl_ms > 0) {
                /* the same key, else an expired slot, else the oldest */
                for (int i = 0; i < GATEWAY_KEY_CACHE; i++) {
                        struct gateway_key_entry *x = &gateway_keys[i];

                        if (strcmp(x->sha, hex) == 0) {
                                e = x;
                                break;
                        }
                        if (e == NULL || x->until_ms < e->until_ms)
                                e = x;
                }
                snprintf(e->sha, sizeof(e->sha), "%s", hex);
                e->id = id;
                e->rate = rate;
                snprintf(e->source, sizeof(e->source), "%s", source);
                snprintf(e->channel, sizeof(e->channel), "%s", channel);
                e->until_ms = now + gateway_key_ttl_ms;
        }
        pthread_mutex_unlock(&gateway_key_mu);
}

/* The key's row from the database into the cache. */
static int gateway_key_query(PGconn *conn, const char *hex, int64_t *id,
                             char *source, size_t slen, char *channel,
                             size_t clen, int64_t *rate, char *err,
                             size_t errlen)
{
        const char *params[1] = {hex};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT id, source, rate_limit, channel FROM api_keys "
                       "WHERE key_sha256 = $1 AND revoked_at IS NULL",
                       1, params, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return km_err_set(err, errlen, KM_EINPUT, "unknown api_key");
        }
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(source, slen, "%s", PQgetvalue(res, 0, 1));
        *rate = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
        snprintf(channel, clen, "%s", PQgetvalue(res, 0, 3));
        PQclear(res);
        gateway_key_remember(hex, *id, source, channel, *rate);
        return 0;
}

int gateway_key_lookup(PGconn *conn, const char *key, int64_t *id, char *source,
                       size_t slen, char *channel, size_t clen, int64_t *rate,
                       char *err, size_t errlen)
{
        char hex[KM_SHA256_HEX];

        /* what api_keys stores: komek-keys hashes the same way */
        km_hash_sha256_hex(key, strlen(key), hex);
        if (gateway_key_cached(hex, id, source, slen, channel, clen, rate))
                return 0;
        return gateway_key_query(conn, hex, id, source, slen, channel, clen,
                                 rate, err, errlen);
}

int gateway_key_admit(struct gateway *gw, const char *key,
                      struct gateway_caller *who, char *err, size_t errlen)
{
        char hex[KM_SHA256_HEX];
        struct km_pgslot *slot;
        int r;

        /* what api_keys stores: komek-keys hashes the same way */
        km_hash_sha256_hex(key, strlen(key), hex);
        if (gateway_key_cached(hex, &who->key_id, who->source,
                               sizeof(who->source), who->channel,
                               sizeof(who->channel), &who->rate))
                return 0; /* no connection taken */
        slot = gateway_pg_get(gw, err, errlen);
        if (slot == NULL)
                return KM_ERETRY;
        r = gateway_key_query(slot->conn, hex, &who->key_id, who->source,
                              sizeof(who->source), who->channel,
                              sizeof(who->channel), &who->rate, err, errlen);
        km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
        return r;
}

/* A key's id, rate limit and whether it has scope (api_keys.scopes,
 * migrations 096 and 104: read_private for GET, votes for POST /votes).
 * @returns 0, KM_EINPUT for an unknown or revoked key, or the database's
 * error. */
int gateway_key_read(PGconn *conn, const char *key, const char *scope,
                     int64_t *id, int64_t *rate, int *has_scope, char *err,
                     size_t errlen)
{
        char hex[KM_SHA256_HEX];
        const char *params[2] = {hex, scope};
        PGresult *res = NULL;
        int r;

        /* what api_keys stores: komek-keys hashes the same way */
        km_hash_sha256_hex(key, strlen(key), hex);
        r = km_pg_exec(conn,
                       "SELECT id, rate_limit, $2 = ANY(scopes) "
                       "FROM api_keys WHERE key_sha256 = $1 AND revoked_at "
                       "IS NULL",
                       2, params, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return km_err_set(err, errlen, KM_EINPUT, "unknown api_key");
        }
        *id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        *rate = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
        *has_scope = PQgetvalue(res, 0, 2)[0] == 't';
        PQclear(res);
        return 0;
}

int gateway_rate_take(struct gateway *gw, int64_t key_id, int64_t per_min)
{
        struct gateway_bucket *b = NULL;
        int64_t now = km_now_ms();
        int ok;

        pthread_mutex_lock(&gw->lock);
        for (size_t i = 0; i < gw->nbuckets; i++)
                if (gw->buckets[i].key_id == key_id)
                        b = &gw->buckets[i];
        if (b == NULL) {
                gw->buckets = km_xrealloc(gw->buckets,
                                          (gw->nbuckets + 1) * sizeof(*b));
                b = &gw->buckets[gw->nbuckets++];
                b->key_id = key_id;
                b->tokens = (double)per_min;
                b->at_ms = now;
        }
        b->tokens += (double)(now - b->at_ms) * (double)per_min / 60000.0;
        if (b->tokens > (double)per_min)
                b->tokens = (double)per_min;
        b->at_ms = now;
        ok = b->tokens >= 1.0;
        if (ok)
                b->tokens -= 1.0;
        pthread_mutex_unlock(&gw->lock);
        return ok;
}

void gateway_pool_destroy(struct gateway *gw)
{
        km_pgpool_destroy(&gw->pool);
        km_pgpool_destroy(&gw->rpool);
        free(gw->buckets);
        gw->buckets = NULL;
}
