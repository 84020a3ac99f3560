/*
 * km_dlq.h - dead letters: one body (km_dlq_build) and Kafka Connect's
 * error headers for every program that dead-letters.
 */
#ifndef KM_DLQ_H
#define KM_DLQ_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "km_conf.h"
#include "km_err.h"
#include "km_kafka.h"

/*
 * Dead letters (docs/messages.md "complaints.dlq").   Every program that
 * dead-letters uses km_dlq_produce, so every dead letter has the same body
 * and the same Kafka Connect headers.
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

/**
 * @brief km_dlq_produce for a record read from a file (komek-intake):
 * origin {"file": file, "line": line} in the body, headers
 * komek.origin.file and komek.origin.line beside Connect's, and the key
 * "<file>:<line>".
 */
int km_dlq_produce_file(rd_kafka_t *rk, const struct km_conf *conf,
                        const char *program, const char *stage,
                        const char *file, int64_t line, const char *reason,
                        const char *detail, const void *buf, size_t len,
                        struct km_kafka_counts *counts, int timeout_ms,
                        char *err, size_t errlen) KM_MUSTCHECK;

/**
 * @brief Before committing the offsets of a batch that dead-lettered:
 * flush rk and check that no dead letter failed since the last call
 * (counts->failed beyond *failed_seen, which it advances).
 * @returns 0, KM_ERETRY (roll the batch back: it is read again),
 *          KM_EFATAL.
 */
int km_dlq_flush(rd_kafka_t *rk, struct km_kafka_counts *counts,
                 int64_t *failed_seen, int timeout_ms, char *err,
                 size_t errlen) KM_MUSTCHECK;

#endif /* KM_DLQ_H */
