/*
 * km_outbox.h - the transactional outbox of task state changes
 * (task_outbox, deploy/sql/011_tasks.sql).
 *
 * A state change writes its messages into task_outbox in the same
 * PostgreSQL transaction as the row change (km_task.c); km_outbox_publish
 * then produces them and marks them published.  The rows are locked
 * (FOR UPDATE SKIP LOCKED) while one publisher works on them, so the
 * inbox publishing right after its commit and komek-tasksink's relay loop
 * never both send a row; only a crash between the broker's
 * acknowledgement and the marking commit sends one twice, and consumers
 * deduplicate on event_id (task-events) or (complaint_id, attempt)
 * (dispatch).
 */
#ifndef KM_OUTBOX_H
#define KM_OUTBOX_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"

/**
 * @brief Publish unpublished outbox rows, oldest first, and mark them.
 * @param rk an idempotent producer whose counts are @p counts
 * @param complaint_id only this complaint's rows (NULL-able: any)
 * @param min_age_ms only rows at least this old (the relay leaves fresh
 *        rows to the inbox that wrote them)
 * @param limit at most this many rows
 * @param published receives the number published (NULL-able)
 * @returns 0, or KM_ERETRY (broker or database trouble: rows stay
 *          unpublished and are retried), KM_EFATAL.
 */
int km_outbox_publish(PGconn *conn, rd_kafka_t *rk,
                      struct km_kafka_counts *counts,
                      const struct km_conf *conf, const char *complaint_id,
                      int min_age_ms, int limit, int *published, char *err,
                      size_t errlen) KM_MUSTCHECK;

/*
 * Dead letters (docs/messages.md "complaints.dlq").  XXX: km_dlq_produce
 * belongs in a km_dlq.c of its own; it lives here, next to the other
 * "produce what a worker owes" code, until the Makefile lists one.
 */

/** Where a dead letter came from: a topic position, or (topic NULL) the
 *  caller's own origin object. */
struct km_dlq_origin {
        const char *topic; /* NULL-able: then origin is used */
        int32_t partition;
        int64_t offset;
        json_t *origin; /* NULL-able; stolen; e.g. {"file":..,"line":..} */
};

/**
 * @brief Produce one dead letter into conf->topic_dlq: the body of
 * km_dlq_build (reason, detail, origin, the original, cut to
 * conf->max_message_bytes and marked "truncated"), and Kafka Connect's
 * error headers (__connect.errors.topic, .partition, .offset,
 * .exception.class.name "komek.<reason>", .exception.message <reason>:
 * <detail>, .stage, .connector.name <program>), so Connect DLQ tooling
 * reads it.  The key is "<topic>/<partition>/<offset>" for a topic
 * origin: a dead letter sent twice (produced, then the batch rolled back)
 * has the same key, the dedup key of an at-least-once dead letter.
 * @param stage e.g. "VALUE_CONVERTER" (parse) or "TASK_PUT" (database)
 * @returns 0 once handed to librdkafka (flush and check counts->failed
 *          before committing the origin's offsets), KM_ERETRY, KM_EFATAL.
 */
int km_dlq_produce(rd_kafka_t *rk, const struct km_conf *conf,
                   const char *program, const char *stage,
                   const struct km_dlq_origin *from, const char *reason,
                   const char *detail, const void *buf, size_t len,
                   struct km_kafka_counts *counts, int timeout_ms, char *err,
                   size_t errlen) KM_MUSTCHECK;

#endif /* KM_OUTBOX_H */
