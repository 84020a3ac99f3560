/*
 * gateway_db.c - a small PostgreSQL connection pool (gateway.pg_pool
 * connections, made on demand, a broken one reconnected on next use), the
 * API key lookup (SHA-256 of the presented key, never the key itself;
 * a found key is cached for GATEWAY_KEY_TTL_MS, so a burst of POSTs costs
 * one query, and a revoked key is refused at most that long after
 * komek-keys revoke; unknown keys are never cached, a new key works at
 * once) and
 * the per-key rate limit: a token bucket in this process's memory holding
 * up to rate_limit tokens and refilled at rate_limit per minute.  With
 * several gateway processes each enforces the limit on its own (XXX: a
 * shared limit would need PostgreSQL or a proxy).
 */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

#define GATEWAY_TASKS_RECHECK_MS 30000

static void gateway_deadline(struct timespec *ts, int64_t ms)
{
        clock_gettime(CLOCK_MONOTONIC, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (ms % 1000) * 1000000L;
        if (ts->tv_nsec >= 1000000000L) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000L;
        }
}

static struct gateway_pgslot *gateway_pool_get(struct gateway *gw,
                                               struct gateway_pgslot *slots,
                                               const char *conninfo,
                                               char *err, size_t errlen)
{
        struct gateway_pgslot *slot = NULL;
        struct timespec ts;
        int64_t n = gw->gc->pg_pool;

        gateway_deadline(&ts, 5000);
        pthread_mutex_lock(&gw->lock);
        for (;;) {
                for (int64_t i = 0; i < n && slot == NULL; i++)
                        if (!slots[i].busy)
                                slot = &slots[i];
                if (slot)
                        break;
                if (pthread_cond_timedwait(&gw->cond, &gw->lock, &ts) ==
                    ETIMEDOUT) {
                        pthread_mutex_unlock(&gw->lock);
                        km_err_set(err, errlen, KM_ERETRY,
                                   "no free database connection");
                        return NULL;
                }
        }
        slot->busy = 1;
        pthread_mutex_unlock(&gw->lock);
        if (slot->conn && PQstatus(slot->conn) != CONNECTION_OK) {
                PQfinish(slot->conn);
                slot->conn = NULL;
        }
        if (slot->conn == NULL) {
                /* short: a request should not hang on a dead database */
                slot->conn = km_pg_connect(conninfo, "komek-gateway", 2, err,
                                           errlen);
                slot->checked_ms = 0;
                if (slot->conn == NULL) {
                        gateway_pg_put(gw, slot, 0);
                        return NULL;
                }
        }
        if (km_now_ms() - slot->checked_ms > GATEWAY_TASKS_RECHECK_MS) {
                PGresult *res = NULL;
                char e2[256];

                if (km_pg_exec(slot->conn,
                               "SELECT to_regclass('tasks') IS NOT NULL AND "
                               "to_regclass('organisations') IS NOT NULL",
                               0, NULL, &res, e2, sizeof(e2)) == 0) {
                        slot->has_tasks = PQgetvalue(res, 0, 0)[0] == 't';
                        slot->checked_ms = km_now_ms();
                }
                PQclear(res);
        }
        return slot;
}

struct gateway_pgslot *gateway_pg_get(struct gateway *gw, char *err,
                                      size_t errlen)
{
        return gateway_pool_get(gw, gw->slots, gw->conf->pg_conninfo, err,
                                errlen);
}

struct gateway_pgslot *gateway_pg_get_read(struct gateway *gw, char *err,
                                           size_t errlen)
{
        if (gw->rslots == NULL)
                return gateway_pg_get(gw, err, errlen);
        return gateway_pool_get(gw, gw->rslots, km_pg_read_conninfo(gw->conf),
                                err, errlen);
}

void gateway_pg_put(struct gateway *gw, struct gateway_pgslot *slot,
                    int broken)
{
        if (slot == NULL)
                return;
        if (broken && slot->conn) {
                PQfinish(slot->conn);
                slot->conn = NULL;
        }
        pthread_mutex_lock(&gw->lock);
        slot->busy = 0;
        pthread_cond_broadcast(&gw->cond);
        pthread_mutex_unlock(&gw->lock);
}

int gateway_pg_has_tasks(struct gateway_pgslot *slot)
{
        return slot->has_tasks;
}

/* The hex SHA-256 of a presented key: what api_keys stores.  SHA-256 is
 * fetched once per process: EVP_sha256() in EVP_Digest looks the
 * implementation up in the provider store, under a lock, on every call
 * (every request's key). */
static pthread_once_t gateway_sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *gateway_sha256;

static void gateway_sha256_init(void)
{
        gateway_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (gateway_sha256 == NULL)
                abort(); /* no SHA-256 in libcrypto: no key can be checked */
}

static void gateway_key_hex(const char *key, char *hex)
{
        static const char digits[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;

        if (pthread_once(&gateway_sha256_once, gateway_sha256_init) != 0 ||
            !EVP_Digest(key, strlen(key), md, &mdlen, gateway_sha256, NULL))
                abort(); /* a digest over memory fails only out of memory */
        for (unsigned i = 0; i < mdlen; i++) {
                hex[2 * i] = digits[md[i] >> 4];
                hex[2 * i + 1] = digits[md[i] & 0xF];
        }
        hex[2 * mdlen] = '\0';
}

/* The API key cache: the SHA-256 (hex) of a key the database said is
 * valid, its row, and until when to believe it.  A handful of integrations
 * hold keys; GATEWAY_KEY_CACHE entries, the oldest replaced. */
#define GATEWAY_KEY_TTL_MS 2000
#define GATEWAY_KEY_CACHE 64

struct gateway_key_entry {
        char sha[2 * 32 + 1];
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

int gateway_key_lookup(PGconn *conn, const char *key, int64_t *id,
                       char *source, size_t slen, char *channel,
                       size_t clen, int64_t *rate, char *err,
                       size_t errlen)
{
        char hex[2 * EVP_MAX_MD_SIZE + 1];

        gateway_key_hex(key, hex);
        if (gateway_key_cached(hex, id, source, slen, channel, clen, rate))
                return 0;
        return gateway_key_query(conn, hex, id, source, slen, channel, clen,
                                 rate, err, errlen);
}

int gateway_key_admit(struct gateway *gw, const char *key,
                      struct gateway_caller *who, char *err, size_t errlen)
{
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        struct gateway_pgslot *slot;
        int r;

        gateway_key_hex(key, hex);
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
        gateway_pg_put(gw, slot, PQstatus(slot->conn) != CONNECTION_OK);
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
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        const char *params[2] = {hex, scope};
        PGresult *res = NULL;
        int r;

        gateway_key_hex(key, hex);
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
                gw->buckets = km_xrealloc(gw->buckets, (gw->nbuckets + 1) *
                                                           sizeof(*b));
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
        if (gw->slots == NULL)
                return;
        for (int64_t i = 0; i < gw->gc->pg_pool; i++) {
                PQfinish(gw->slots[i].conn);
                if (gw->rslots)
                        PQfinish(gw->rslots[i].conn);
        }
        free(gw->slots);
        free(gw->rslots);
        gw->slots = gw->rslots = NULL;
        free(gw->buckets);
        gw->buckets = NULL;
}
