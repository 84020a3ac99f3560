/*
 * km_pg.c - see km_pg.h.
 */
#include "km_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "km_sig.h"
#include "km_util.h"

/* A connection failure that waiting will not cure: the server answered
 * and refused us, or TLS verification failed (sslmode=verify-full with a
 * wrong sslrootcert).  libpq gives no SQLSTATE for these, only text.
 * XXX English messages only: under another lc_messages we retry until the
 * deadline, as for an unreachable server. */
static int km_pg_permanent(const char *msg)
{
        static const char *const pats[] = {
                "certificate verify failed",
                "does not match host name",
                "root certificate file",
                "password authentication failed",
                "no pg_hba.conf entry",
                "does not exist",
                "SSL is not enabled on the server",
                "invalid sslmode",
                "invalid connection option",
                "missing \"=\"",
        };

        for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
                if (strstr(msg, pats[i]))
                        return 1;
        return 0;
}

PGconn *km_pg_connect(const char *conninfo, const char *prog, int timeout_s,
                      char *err, size_t errlen)
{
        int64_t deadline = km_now_ms() + (int64_t)timeout_s * 1000;
        int delay_ms = 100;
        const char *keys[] = {"dbname", "application_name", "connect_timeout",
                              NULL};
        const char *vals[] = {conninfo, prog, "10", NULL};

        for (;;) {
                PGconn *conn = PQconnectdbParams(keys, vals, 1);

                if (conn && PQstatus(conn) == CONNECTION_OK)
                        return conn;
                const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
                int permanent = km_pg_permanent(msg);

                km_err_set(err, errlen, permanent ? KM_EFATAL : KM_ERETRY,
                           "postgresql: %s", msg);
                PQfinish(conn);
                if (permanent || km_now_ms() + delay_ms > deadline ||
                    km_sig_stop)
                        return NULL;
                /* Backoff between connection attempts: waiting for a server
                 * to come up, bounded by the deadline above. */
                {
                        struct timespec ts = {delay_ms / 1000,
                                              (delay_ms % 1000) * 1000000L};

                        nanosleep(&ts, NULL);
                }
                if (delay_ms < 2000)
                        delay_ms *= 2;
        }
}

static int km_pg_classify(PGconn *conn, PGresult *res)
{
        const char *state =
                res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

        if (PQstatus(conn) != CONNECTION_OK)
                return KM_ERETRY;
        if (state == NULL)
                return KM_ERETRY;
        if (!strcmp(state, "40001") || !strcmp(state, "40P01") ||
            !strncmp(state, "57P", 3) || !strncmp(state, "08", 2) ||
            !strcmp(state, "55P03"))
                return KM_ERETRY;
        if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
                return KM_EINPUT;
        return KM_EFATAL;
}

/* r (consumed) as km_pg_exec's result. */
static int km_pg_result(PGconn *conn, PGresult *r, PGresult **res, char *err,
                        size_t errlen)
{
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

        if (res)
                *res = NULL;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
                if (res)
                        *res = r;
                else
                        PQclear(r);
                return 0;
        }
        {
                int code = km_pg_classify(conn, r);
                const char *state =
                        r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

                km_err_set(err, errlen, code, "postgresql %s: %s",
                           state ? state : "connection",
                           r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
                PQclear(r);
                return code;
        }
}

int km_pg_exec(PGconn *conn, const char *sql, int nparams,
               const char *const *params, PGresult **res, char *err,
               size_t errlen)
{
        return km_pg_result(
                conn,
                PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0),
                res, err, errlen);
}

int km_pg_exec_prepared(PGconn *conn, const char *name, const char *sql,
                        int nparams, const char *const *params, PGresult **res,
                        char *err, size_t errlen)
{
        PGresult *r =
                PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

        if (state && strcmp(state, "26000") == 0) { /* not on conn yet */
                PQclear(r);
                r = PQprepare(conn, name, sql, nparams, NULL);
                if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
                        return km_pg_result(conn, r, res, err, errlen);
                PQclear(r);
                r = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
        }
        return km_pg_result(conn, r, res, err, errlen);
}

int km_pg_begin(PGconn *conn, char *err, size_t errlen)
{
        return km_pg_exec(conn, "BEGIN", 0, NULL, NULL, err, errlen);
}

int km_pg_commit(PGconn *conn, char *err, size_t errlen)
{
        return km_pg_exec(conn, "COMMIT", 0, NULL, NULL, err, errlen);
}

void km_pg_rollback(PGconn *conn)
{
        PGresult *r = PQexec(conn, "ROLLBACK");

        PQclear(r);
}

int km_pg_offset_store(PGconn *conn, const char *consumer, const char *topic,
                       int32_t partition, int64_t next_offset, char *err,
                       size_t errlen)
{
        char p[16], o[24];
        const char *params[4] = {consumer, topic, p, o};

        snprintf(p, sizeof(p), "%d", (int)partition);
        snprintf(o, sizeof(o), "%lld", (long long)next_offset);
        return km_pg_exec(conn,
                          "INSERT INTO consumer_offsets (consumer, topic, "
                          "partition, next_offset, updated_at) "
                          "VALUES ($1, $2, $3, $4, now()) "
                          "ON CONFLICT (consumer, topic, partition) DO UPDATE "
                          "SET next_offset = EXCLUDED.next_offset, "
                          "updated_at = now()",
                          4, params, NULL, err, errlen);
}

int km_pg_offsets_load(PGconn *conn, const char *consumer,
                       rd_kafka_topic_partition_list_t *parts, char *err,
                       size_t errlen)
{
        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &parts->elems[i];
                PGresult *res = NULL;
                char p[16];
                const char *params[3] = {consumer, tp->topic, p};
                int r;

                snprintf(p, sizeof(p), "%d", (int)tp->partition);
                r = km_pg_exec(conn,
                               "SELECT next_offset FROM consumer_offsets "
                               "WHERE consumer = $1 AND topic = $2 AND "
                               "partition = $3",
                               3, params, &res, err, errlen);
                if (r)
                        return r;
                if (PQntuples(res) == 1)
                        tp->offset = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
                else
                        tp->offset = RD_KAFKA_OFFSET_BEGINNING;
                PQclear(res);
        }
        return 0;
}

const char *km_pg_read_conninfo(const struct km_conf *conf)
{
        return conf->pg_read_conninfo && conf->pg_read_conninfo[0]
                       ? conf->pg_read_conninfo
                       : conf->pg_conninfo;
}
