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

#endif /* KM_OUTBOX_H */
