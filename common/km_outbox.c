/*
 * km_outbox.c - see km_outbox.h.
 */
#include "km_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_pg.h"
#include "km_util.h"

static int km_outbox_send(PGconn *conn, rd_kafka_t *rk,
                          struct km_kafka_counts *counts,
                          const struct km_conf *conf, PGresult *res, char *err,
                          size_t errlen)
{
        int n = PQntuples(res), r;
        int64_t delivered = counts->delivered, failed = counts->failed;
        size_t cap = 2 + (size_t)n * 38;
        char *ids = km_xmalloc(cap);
        const char *p[1] = {ids};
        size_t len = 0;

        ids[len++] = '{';
        for (int i = 0; i < n; i++) {
                const char *topic = strcmp(PQgetvalue(res, i, 1), "dispatch")
                                            ? conf->topic_task_events
                                            : conf->topic_dispatch;

                r = km_kafka_produce(
                        rk, topic, RD_KAFKA_PARTITION_UA, PQgetvalue(res, i, 2),
                        PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3),
                        counts, 10000, err, errlen);
                if (r) {
                        free(ids);
                        return r == KM_EINPUT ? KM_EFATAL : r;
                }
                len += (size_t)snprintf(ids + len, cap - len, "%s%s",
                                        i ? "," : "", PQgetvalue(res, i, 0));
        }
        ids[len++] = '}';
        ids[len] = '\0';
        r = km_kafka_flush(rk, 30000, err, errlen);
        if (r == 0 &&
            (counts->failed != failed || counts->delivered - delivered != n))
                r = km_err_set(err, errlen, KM_ERETRY,
                               "outbox: %lld of %d delivered: %s",
                               (long long)(counts->delivered - delivered), n,
                               counts->last_error);
        if (r == 0)
                r = km_pg_exec(conn,
                               "UPDATE task_outbox SET published_at = "
                               "clock_timestamp() WHERE event_id = "
                               "ANY ($1::uuid[])",
                               1, p, NULL, err, errlen);
        free(ids);
        return r;
}

int km_outbox_publish(PGconn *conn, rd_kafka_t *rk,
                      struct km_kafka_counts *counts,
                      const struct km_conf *conf, const char *complaint_id,
                      int min_age_ms, int limit, int *published, char *err,
                      size_t errlen)
{
        char age[24], lim[24];
        const char *p[3] = {complaint_id, age, lim};
        PGresult *res = NULL;
        int r;

        if (published)
                *published = 0;
        snprintf(age, sizeof(age), "%d", min_age_ms);
        snprintf(lim, sizeof(lim), "%d", limit);
        if ((r = km_pg_begin(conn, err, errlen)))
                return r;
        r = km_pg_exec(conn,
                       "SELECT event_id, topic, msg_key, payload FROM "
                       "task_outbox WHERE published_at IS NULL AND "
                       "($1::uuid IS NULL OR complaint_id = $1::uuid) AND "
                       "created_at <= clock_timestamp() - $2::int * "
                       "interval '1 millisecond' ORDER BY created_at, "
                       "event_id LIMIT $3::int FOR UPDATE SKIP LOCKED",
                       3, p, &res, err, errlen);
        if (r == 0 && PQntuples(res) > 0)
                r = km_outbox_send(conn, rk, counts, conf, res, err, errlen);
        if (r == 0)
                r = km_pg_commit(conn, err, errlen);
        if (r == 0 && published)
                *published = PQntuples(res);
        if (r)
                km_pg_rollback(conn);
        PQclear(res);
        return r;
}
