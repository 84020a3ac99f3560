/*
 * web_db.c - the connections of komek-web's pools (common/km_pgpool.c:
 * the staff's, and the dashboard's, which sets its role on every new
 * connection - SET ROLE komek_analyst: read-only, no resident's data - so
 * no dashboard query can read what that role may not), each with JIT
 * off, and statements prepared once per connection.
 *
 * Why JIT off: a page's query runs for milliseconds, and PostgreSQL
 * decides to JIT-compile a plan from its estimated cost.  The incidents
 * views (114_incidents.sql) are estimated at ~10^6 for a hundred rows, so
 * with the default jit_above_cost every inbox compiled ~100 functions
 * with LLVM: 5.8 s for the busiest KSK's inbox on 300,000 tasks, 0.14 s
 * with jit = off (bench/web.sh collapsed to 0-1 pages/s).  The dashboard's
 * long queries run in web_cache's refresher, where JIT saved little (the
 * KSK rating 12.5 s without, 15 s with it, on the same data).
 */
#include <stdio.h>
#include <string.h>

#include "km_pg.h"
#include "km_util.h"
#include "web.h"

PGconn *web_pg_get(struct km_pgpool *p, char *err, size_t errlen)
{
        struct km_pgslot *slot = km_pgpool_get(p, err, errlen);

        if (slot == NULL)
                return NULL;
        /* mark: this connection has jit = off (km_pgpool zeroes it when
         * it connects anew) */
        if (!slot->mark) {
                if (km_pg_exec(slot->conn,
                               "SELECT set_config('jit', 'off', false)", 0,
                               NULL, NULL, err, errlen)) {
                        km_pgpool_put(slot, 1);
                        return NULL;
                }
                slot->mark = 1;
        }
        return slot->conn;
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
        PGresult *r =
                PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
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
