/*
 * web_db.c - a small pool of PostgreSQL connections, made on demand; a
 * request waits up to 5 s for a free one.  A connection found broken is
 * made again on its next use.  The dashboard's pool sets its role on
 * every new connection (SET ROLE komek_analyst: read-only, no resident's
 * data), so no dashboard query can read what the analyst role may not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_pg.h"
#include "km_util.h"
#include "web.h"

int web_pool_init(struct web_pool *p, const char *name, const char *conninfo,
                  const char *role, int n)
{
        pthread_condattr_t ca;

        memset(p, 0, sizeof(*p));
        p->name = name;
        p->conninfo = conninfo;
        p->role = role && *role ? role : NULL;
        p->n = n;
        p->conns = km_xcalloc((size_t)n, sizeof(*p->conns));
        p->busy = km_xcalloc((size_t)n, sizeof(*p->busy));
        pthread_mutex_init(&p->mu, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cond, &ca);
        pthread_condattr_destroy(&ca);
        return 0;
}

static PGconn *web_pool_connect(struct web_pool *p, char *err, size_t errlen)
{
        char app[64];
        PGconn *conn;

        snprintf(app, sizeof(app), "komek-web-%s", p->name);
        /* short: a page should not hang on a dead database */
        conn = km_pg_connect(p->conninfo, app, 2, err, errlen);
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

PGconn *web_pool_get(struct web_pool *p, char *err, size_t errlen)
{
        struct timespec ts;
        int slot = -1;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 5;
        pthread_mutex_lock(&p->mu);
        for (;;) {
                for (int i = 0; i < p->n && slot < 0; i++)
                        if (!p->busy[i] && p->conns[i])
                                slot = i; /* prefer a connected one */
                for (int i = 0; i < p->n && slot < 0; i++)
                        if (!p->busy[i])
                                slot = i;
                if (slot >= 0)
                        break;
                if (pthread_cond_timedwait(&p->cond, &p->mu, &ts) ==
                    ETIMEDOUT) {
                        pthread_mutex_unlock(&p->mu);
                        km_err_set(err, errlen, KM_ERETRY,
                                   "no free %s database connection", p->name);
                        return NULL;
                }
        }
        p->busy[slot] = 1;
        pthread_mutex_unlock(&p->mu);
        if (p->conns[slot] && PQstatus(p->conns[slot]) != CONNECTION_OK) {
                PQfinish(p->conns[slot]);
                p->conns[slot] = NULL;
        }
        if (p->conns[slot] == NULL)
                p->conns[slot] = web_pool_connect(p, err, errlen);
        if (p->conns[slot] == NULL) {
                pthread_mutex_lock(&p->mu);
                p->busy[slot] = 0;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->mu);
                return NULL;
        }
        return p->conns[slot];
}

/* Give a connection back; one left inside a transaction (an error path
 * that did not roll back) is rolled back first. */
void web_pool_put(struct web_pool *p, PGconn *conn)
{
        if (conn == NULL)
                return;
        if (PQtransactionStatus(conn) != PQTRANS_IDLE)
                km_pg_rollback(conn);
        pthread_mutex_lock(&p->mu);
        for (int i = 0; i < p->n; i++)
                if (p->conns[i] == conn) {
                        p->busy[i] = 0;
                        break;
                }
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mu);
}

void web_pool_destroy(struct web_pool *p)
{
        if (p->conns == NULL)
                return;
        for (int i = 0; i < p->n; i++)
                if (p->conns[i])
                        PQfinish(p->conns[i]);
        free(p->conns);
        free(p->busy);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->mu);
        memset(p, 0, sizeof(*p));
}

/**
 * @brief Run a statement prepared once per connection under name (the
 * hot pages: no parse and plan per request).  The first use on a
 * connection, or after the server forgot it, prepares it.
 * @returns 0 and *res, or KM_ERETRY (connection) / KM_EFATAL with err.
 */
int web_pg_prepared(PGconn *conn, const char *name, const char *sql,
                    int nparams, const char *const *params, PGresult **res,
                    char *err, size_t errlen)
{
        PGresult *r = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

        if (PQresultStatus(r) == PGRES_FATAL_ERROR && state &&
            strcmp(state, "26000") == 0) { /* not prepared on this one */
                PQclear(r);
                r = PQprepare(conn, name, sql, nparams, NULL);
                if (PQresultStatus(r) == PGRES_COMMAND_OK) {
                        PQclear(r);
                        r = PQexecPrepared(conn, name, nparams, params, NULL,
                                           NULL, 0);
                }
        }
        if (PQresultStatus(r) == PGRES_TUPLES_OK ||
            PQresultStatus(r) == PGRES_COMMAND_OK) {
                *res = r;
                return 0;
        }
        km_err_set(err, errlen,
                   PQstatus(conn) == CONNECTION_OK ? KM_EFATAL : KM_ERETRY,
                   "postgresql %s: %s", name, PQerrorMessage(conn));
        for (char *p = err; *p; p++) /* one line */
                if (*p == '\n')
                        *p = ' ';
        PQclear(r);
        *res = NULL;
        return PQstatus(conn) == CONNECTION_OK ? KM_EFATAL : KM_ERETRY;
}
