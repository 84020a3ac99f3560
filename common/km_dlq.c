/*
 * km_dlq.c - produce one dead letter: km_dlq_build's body, a key naming
 * its origin, and Kafka Connect's __connect.errors.* headers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_dlq.h"
#include "km_util.h"

static void km_dlq_header(rd_kafka_headers_t *hdrs, const char *name,
                          const char *value)
{
        rd_kafka_header_add(hdrs, name, -1, value, -1);
}

static int km_dlq_send(rd_kafka_t *rk, const struct km_conf *conf,
                       const char *program, const char *stage,
                       const struct km_dlq_origin *from, const char *file,
                       int64_t line, const char *reason, const char *detail,
                       const void *buf, size_t len,
                       struct km_kafka_counts *counts, int timeout_ms,
                       char *err, size_t errlen)
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
        if (file) {
                if (origin == NULL)
                        origin = json_object();
                json_object_set_new(origin, "file", json_string(file));
                json_object_set_new(origin, "line",
                                    json_integer((json_int_t)line));
                snprintf(key, sizeof(key), "%s:%lld", file, (long long)line);
                km_dlq_header(hdrs, "komek.origin.file", file);
                snprintf(num, sizeof(num), "%lld", (long long)line);
                km_dlq_header(hdrs, "komek.origin.line", num);
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
                e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(conf->topic_dlq),
                                      RD_KAFKA_V_KEY(key, strlen(key)),
                                      RD_KAFKA_V_VALUE(msg, strlen(msg)),
                                      RD_KAFKA_V_HEADERS(hdrs),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                      RD_KAFKA_V_END);
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
        return km_err_set(
                err, errlen,
                e == RD_KAFKA_RESP_ERR__FATAL ||
                                e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                                e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE
                        ? KM_EFATAL
                        : KM_ERETRY,
                "produce to %s: %s", conf->topic_dlq, rd_kafka_err2str(e));
}

int km_dlq_produce(rd_kafka_t *rk, const struct km_conf *conf,
                   const char *program, const char *stage,
                   const struct km_dlq_origin *from, const char *reason,
                   const char *detail, const void *buf, size_t len,
                   struct km_kafka_counts *counts, int timeout_ms, char *err,
                   size_t errlen)
{
        return km_dlq_send(rk, conf, program, stage, from, NULL, 0, reason,
                           detail, buf, len, counts, timeout_ms, err, errlen);
}

int km_dlq_produce_file(rd_kafka_t *rk, const struct km_conf *conf,
                        const char *program, const char *stage,
                        const char *file, int64_t line, const char *reason,
                        const char *detail, const void *buf, size_t len,
                        struct km_kafka_counts *counts, int timeout_ms,
                        char *err, size_t errlen)
{
        struct km_dlq_origin from;

        memset(&from, 0, sizeof(from));
        return km_dlq_send(rk, conf, program, stage, &from, file, line, reason,
                           detail, buf, len, counts, timeout_ms, err, errlen);
}

int km_dlq_flush(rd_kafka_t *rk, struct km_kafka_counts *counts,
                 int64_t *failed_seen, int timeout_ms, char *err, size_t errlen)
{
        int r = km_kafka_flush(rk, timeout_ms, err, errlen);

        if (r)
                return r;
        if (counts->failed > *failed_seen) {
                *failed_seen = counts->failed;
                return km_err_set(err, errlen, KM_ERETRY, "dead letter: %s",
                                  counts->last_error);
        }
        return 0;
}
