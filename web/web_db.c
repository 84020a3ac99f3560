/*
 * web_db.c - statements prepared once per connection of the pools
 * (common/km_pgpool.c: the staff's, and the dashboard's, which sets its
 * role on every new connection - SET ROLE komek_analyst: read-only, no
 * resident's data - so no dashboard query can read what that role may
 * not).
 */
#include <stdio.h>
#include <string.h>

#include "km_pg.h"
#include "km_util.h"
#include "web.h"

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
