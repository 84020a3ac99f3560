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
                          const struct km_conf *conf, PGresult *res,
                          char *err, size_t errlen)
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

                r = km_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA,
                                     PQgetvalue(res, i, 2),
                                     PQgetvalue(res, i, 3),
                                     (size_t)PQgetlength(res, i, 3), counts,
                                     10000, err, errlen);
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
        if (r == 0 && (counts->failed != failed ||
                       counts->delivered - delivered != n))
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

static void km_dlq_header(rd_kafka_headers_t *hdrs, const char *name,
                          const char *value)
{
        rd_kafka_header_add(hdrs, name, -1, value, -1);
}

int km_dlq_produce(rd_kafka_t *rk, const struct km_conf *conf,
                   const char *program, const char *stage,
                   const struct km_dlq_origin *from, const char *reason,
                   const char *detail, const void *buf, size_t len,
                   struct km_kafka_counts *counts, int timeout_ms, char *err,
                   size_t errlen)
{
        json_t *origin = from->origin;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new(8);
        int64_t deadline = km_now_ms() + timeout_ms;
        char key[320], num[32], *msg, *exmsg;
        rd_kafka_resp_err_t e;
        size_t keep = buf ? len : 0;

        key[0] = '\0';
        if (from->topic) {
                if (origin == NULL)
                        origin = json_object();
                json_object_set_new(origin, "topic", json_string(from->topic));
                json_object_set_new(origin, "partition",
                                    json_integer(from->partition));
                json_object_set_new(origin, "offset",
                                    json_integer((json_int_t)from->offset));
                snprintf(key, sizeof(key), "%s/%d/%lld", from->topic,
                         (int)from->partition, (long long)from->offset);
                km_dlq_header(hdrs, "__connect.errors.topic", from->topic);
                snprintf(num, sizeof(num), "%d", (int)from->partition);
                km_dlq_header(hdrs, "__connect.errors.partition", num);
                snprintf(num, sizeof(num), "%lld", (long long)from->offset);
                km_dlq_header(hdrs, "__connect.errors.offset", num);
        }
        /* the original stays under the broker's message size */
        if (keep > (size_t)conf->max_message_bytes) {
                keep = (size_t)conf->max_message_bytes;
                if (origin == NULL)
                        origin = json_object();
                json_object_set_new(origin, "truncated", json_true());
        }
        msg = km_dlq_build(reason, detail ? detail : "", buf ? buf : "", keep,
                           origin); /* origin stolen */
        exmsg = km_xasprintf("%s: %s", reason, detail ? detail : "");
        km_dlq_header(hdrs, "__connect.errors.exception.message", exmsg);
        free(exmsg);
        exmsg = km_xasprintf("komek.%s", reason);
        km_dlq_header(hdrs, "__connect.errors.exception.class.name", exmsg);
        free(exmsg);
        km_dlq_header(hdrs, "__connect.errors.stage", stage);
        km_dlq_header(hdrs, "__connect.errors.connector.name", program);
        for (;;) {
                /* on success the headers belong to the message */
                e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(conf->topic_dlq),
                    RD_KAFKA_V_KEY(key, strlen(key)),
                    RD_KAFKA_V_VALUE(msg, strlen(msg)),
                    RD_KAFKA_V_HEADERS(hdrs),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
                    km_now_ms() >= deadline)
                        break;
                rd_kafka_poll(rk, 100); /* serve delivery reports */
        }
        free(msg);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (counts)
                        counts->produced++;
                rd_kafka_poll(rk, 0);
                return 0;
        }
        rd_kafka_headers_destroy(hdrs);
        return km_err_set(err, errlen,
                          e == RD_KAFKA_RESP_ERR__FATAL ||
                                  e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                              ? KM_EFATAL
                              : KM_ERETRY,
                          "produce to %s: %s", conf->topic_dlq,
                          rd_kafka_err2str(e));
}
