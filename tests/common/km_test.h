/*
 * km_test.h - helpers for integration tests against the real broker and
 * database: configuration from the environment (.run/kafka.env, pg.env), unique topic
 * names (kcat's make_topic_name), and reading a topic with a deadline.
 */
#ifndef KM_TEST_H
#define KM_TEST_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "km_conf.h"

/** @brief Fill conf from KOMEK_CONFIG/KOMEK_BROKERS/KOMEK_PG_CONNINFO.
 *  @returns 0 or -1 (message printed). */
int km_test_conf(struct km_conf *conf);

/** @brief A unique name "komek-test-<what>-<pid>-<n>-<time>" into buf. */
void km_test_name(char *buf, size_t len, const char *what);

/** @brief Create a uniquely named topic; name written to buf. */
int km_test_topic(const struct km_conf *conf, char *buf, size_t len,
                  const char *what, int partitions);

/** @brief Callback for each message read; return non-zero to stop. */
typedef int(km_test_msg_cb)(const rd_kafka_message_t *rkm, void *opaque);

/**
 * @brief Read topic from the beginning of every partition (assign, no
 * group) with the given isolation.level until want messages arrived or
 * deadline_ms passed; after want arrived, keep reading settle_ms more to
 * catch extra (duplicate) messages.
 * @returns the number of messages read.
 */
int km_test_read_topic(const struct km_conf *conf, const char *topic,
                       const char *isolation, int want, int deadline_ms,
                       int settle_ms, km_test_msg_cb *cb, void *opaque);

/**
 * @brief Read topic from the beginning of every partition to its end as
 * the given isolation.level sees it (read_committed: the last stable
 * offset), each message to cb (NULL-able; its return value is ignored),
 * within deadline_ms.  The end is the broker's: no settle time decides it.
 * @returns the number of messages read, or -1 (an end not reached).
 */
long km_test_read_to_end(const struct km_conf *conf, const char *topic,
                         const char *isolation, int deadline_ms,
                         km_test_msg_cb *cb, void *opaque);

/** @brief PostgreSQL conninfo for tests (KOMEK_PG_TEST_CONNINFO, else
 *  the configured one). */
const char *km_test_pg_conninfo(const struct km_conf *conf);

/**
 * @brief A fresh PostgreSQL schema with every migration applied (runs
 * $KOMEK_BIN/komek-admin migrate with search_path set to it).  Writes into
 * conninfo a libpq conninfo whose search_path is that schema: hand it to
 * programs as KOMEK_PG_CONNINFO so a test's tables are its own.
 * @returns 0 or -1 (message printed).
 */
int km_test_pg_schema(const struct km_conf *conf, char *schema, size_t slen,
                      char *conninfo, size_t clen);

/** @brief Drop a schema made by km_test_pg_schema. */
void km_test_pg_schema_drop(const struct km_conf *conf, const char *schema);

/**
 * @brief Start a program in the background with extra environment
 * ("KEY=VALUE" strings, NULL-terminated; NULL-able), stdout/stderr to
 * logfile (NULL-able: inherit).  @returns the pid or -1.
 */
int km_test_spawn(char *const argv[], char *const env[], const char *logfile);

/**
 * @brief Send sig to pid (0: none) and wait up to timeout_ms for it to
 * exit.  @returns its exit status (0..255), 128+signal if killed by a
 * signal, or -1 if it did not exit in time (it is then SIGKILLed).
 */
int km_test_wait(int pid, int sig, int timeout_ms);
#endif /* KM_TEST_H */
