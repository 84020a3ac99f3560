/*
 * km_pg.h - libpq helpers: connect with retry, parameterised statements
 * only (PQexecParams; no SQL is ever built from input), a transaction
 * wrapper, and consumer offsets kept in PostgreSQL (the exactly-once sinks
 * store them in the same transaction as their rows).
 *
 * Error mapping (SQLSTATE): connection loss, 40001 serialization failure,
 * 40P01 deadlock, 57P01 admin shutdown -> KM_ERETRY; 22xxx data and 23xxx
 * integrity errors -> KM_EINPUT; anything else -> KM_EFATAL.
 */
#ifndef KM_PG_H
#define KM_PG_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_err.h"

/**
 * @brief Connect, retrying with backoff up to timeout_s seconds (or until
 * km_sig_stop is set).  Sets application_name to prog.
 * @returns a connection or NULL with err set.
 */
/** @brief The conninfo a reader uses: pg.read_conninfo (a standby: reads
 *  may lag the primary by its replay delay) or else pg.conninfo. */
const char *km_pg_read_conninfo(const struct km_conf *conf);

PGconn *km_pg_connect(const char *conninfo, const char *prog, int timeout_s,
                      char *err, size_t errlen);

/**
 * @brief Run one parameterised statement.
 * @param params NULL-able when nparams is 0; entries NULL-able (SQL NULL)
 * @param res NULL-able: when given, receives the result (PQclear it)
 * @returns 0 or KM_E* with the server's message in err.
 */
int km_pg_exec(PGconn *conn, const char *sql, int nparams,
               const char *const *params, PGresult **res, char *err,
               size_t errlen) KM_MUSTCHECK;

/**
 * @brief km_pg_exec of the statement prepared on conn as name (parsed and
 * planned once per connection, not per call): prepared from sql first
 * when conn does not have it yet (the server's 26000).  Outside a
 * transaction only (that first attempt's error would abort it).
 */
int km_pg_exec_prepared(PGconn *conn, const char *name, const char *sql,
                        int nparams, const char *const *params, PGresult **res,
                        char *err, size_t errlen) KM_MUSTCHECK;

/** @brief BEGIN / COMMIT / ROLLBACK. */
int km_pg_begin(PGconn *conn, char *err, size_t errlen) KM_MUSTCHECK;
int km_pg_commit(PGconn *conn, char *err, size_t errlen) KM_MUSTCHECK;
/** @brief ROLLBACK, ignoring errors (used on the way out of a failure). */
void km_pg_rollback(PGconn *conn);

/**
 * @brief Store next_offset for (consumer, topic, partition) inside the
 * caller's transaction.
 */
int km_pg_offset_store(PGconn *conn, const char *consumer, const char *topic,
                       int32_t partition, int64_t next_offset, char *err,
                       size_t errlen) KM_MUSTCHECK;

/**
 * @brief Fill parts' offsets from the table: the stored next offset, or
 * RD_KAFKA_OFFSET_BEGINNING when none is stored.
 */
int km_pg_offsets_load(PGconn *conn, const char *consumer,
                       rd_kafka_topic_partition_list_t *parts, char *err,
                       size_t errlen) KM_MUSTCHECK;

#endif /* KM_PG_H */
