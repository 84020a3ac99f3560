/*
 * km_pgpool.c - see km_pgpool.h.
 */
#include "km_pgpool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_pg.h"
#include "km_util.h"

void km_pgpool_init(struct km_pgpool *p, const char *app, const char *conninfo,
                    const char *role, int n)
{
        pthread_condattr_t ca;

        memset(p, 0, sizeof(*p));
        snprintf(p->app, sizeof(p->app), "%s", app);
        p->conninfo = conninfo;
        p->role = role && *role ? role : NULL;
        p->n = n;
        p->slots = km_xcalloc((size_t)n, sizeof(*p->slots));
        for (int i = 0; i < n; i++)
                p->slots[i].pool = p;
        pthread_mutex_init(&p->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
}

static PGconn *km_pgpool_connect(struct km_pgpool *p, char *err, size_t errlen)
{
        PGconn *conn;

        /* short: a request should not hang on a dead database */
        conn = km_pg_connect(p->conninfo, p->app, 2, err, errlen);
        if (conn && p->role) {
                const char *q = "SELECT set_config('role', $1, false)";
                const char *params[1] = {p->role};

                if (km_pg_exec(conn, q, 1, params, NULL, err, errlen)) {
                        PQfinish(conn);
                        return NULL;
                }
        }
        return conn;
}

/* A free slot, connected ones first; waits on p->cond.  NULL: none came
 * free in time. */
static struct km_pgslot *km_pgpool_take(struct km_pgpool *p)
{
        struct km_pgslot *slot = NULL;
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += KM_PGPOOL_WAIT_MS / 1000;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                for (int i = 0; i < p->n && slot == NULL; i++)
                        if (!p->slots[i].busy && p->slots[i].conn)
                                slot = &p->slots[i];
                for (int i = 0; i < p->n && slot == NULL; i++)
                        if (!p->slots[i].busy)
                                slot = &p->slots[i];
                if (slot)
                        break;
                if (pthread_cond_timedwait(&p->cond, &p->mu, &ts) == ETIMEDOUT)
                        break;
        }
        if (slot)
                slot->busy = 1;
        pthread_mutex_unlock(&p->mu);
        return slot;
}

struct km_pgslot *km_pgpool_get(struct km_pgpool *p, char *err, size_t errlen)
{
        struct km_pgslot *slot = km_pgpool_take(p);

        if (slot == NULL) {
                km_err_set(err, errlen, KM_ERETRY,
                           "no free database connection (%s)", p->app);
                return NULL;
        }
        if (slot->conn && PQstatus(slot->conn) != CONNECTION_OK) {
                PQfinish(slot->conn);
                slot->conn = NULL;
        }
        if (slot->conn == NULL) {
                slot->mark = 0;
                slot->mark_ms = 0;
                slot->conn = km_pgpool_connect(p, err, errlen);
                if (slot->conn == NULL) {
                        km_pgpool_put(slot, 0);
                        return NULL;
                }
        }
        return slot;
}

void km_pgpool_put(struct km_pgslot *slot, int broken)
{
        struct km_pgpool *p;

        if (slot == NULL)
                return;
        p = slot->pool;
        if (broken && slot->conn) {
                PQfinish(slot->conn);
                slot->conn = NULL;
        } else if (slot->conn &&
                   PQtransactionStatus(slot->conn) != PQTRANS_IDLE) {
                km_pg_rollback(slot->conn);
        }
        pthread_mutex_lock(&p->mu);
        slot->busy = 0;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mu);
}

PGconn *km_pgpool_get_conn(struct km_pgpool *p, char *err, size_t errlen)
{
        struct km_pgslot *slot = km_pgpool_get(p, err, errlen);

        return slot ? slot->conn : NULL;
}

void km_pgpool_put_conn(struct km_pgpool *p, PGconn *conn)
{
        if (conn == NULL)
                return;
        for (int i = 0; i < p->n; i++)
                if (p->slots[i].conn == conn) {
                        km_pgpool_put(&p->slots[i], 0);
                        return;
                }
}

void km_pgpool_destroy(struct km_pgpool *p)
{
        if (p->slots == NULL)
                return;
        for (int i = 0; i < p->n; i++)
                PQfinish(p->slots[i].conn);
        free(p->slots);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        memset(p, 0, sizeof(*p));
}
