/*
 * rt.h - helpers shared by the routing tests (tests/routing/): a generated
 * data set, the directory imported into a test schema, complaints
 * published to a unique topic as intake would, programs spawned with the
 * test's topics, groups and schema, and polling counts with a deadline.
 */
#ifndef RT_H
#define RT_H

#include <libpq-fe.h>
#include <stddef.h>

#include "km_conf.h"

struct rt {
        struct km_conf conf;
        char schema[128];
        char conninfo[1024];
        char env_pg[1100];   /* KOMEK_PG_CONNINFO=... */
        char datadir[256];
        char complaints[160], dispatch[160], dlq[160], events[160];
        char logdir[256];
        PGconn *conn;
};

/** @brief Config, schema, topics (complaints 6, dispatch 6, dlq 1,
 *  events 3 partitions) and a connection.  @returns 0 or -1. */
int rt_setup(struct rt *t, const char *what);
void rt_teardown(struct rt *t);

/** @brief komek-gen into a fresh directory under t->datadir. */
int rt_gen(struct rt *t, const char *args);

/** @brief komek-directory import t->datadir (or dir). */
int rt_import(struct rt *t, const char *dir);

/**
 * @brief Publish every valid line of t->datadir/complaints.jsonl to the
 * complaints topic as intake does (canonical JSON, keyed by building id
 * or id).  *unique gets the number of distinct complaint ids of the
 * whole file, published or not (NULL-able).
 * @returns the number published or -1.
 */
int rt_publish(struct rt *t, int *unique);

/** @brief Same for valid lines [skip, skip + max) only (max < 0: all). */
int rt_publish_range(struct rt *t, int skip, int max, int *unique);

/** @brief Produce raw bytes to a topic (key NULL-able). */
int rt_produce_raw(struct rt *t, const char *topic, const char *key,
                   const char *buf, size_t len);

/** @brief A single-value query as a long (-1 on error). */
long rt_count(struct rt *t, const char *sql);

/** @brief Poll sql until it returns want or deadline_ms passes.
 *  @returns the last value. */
long rt_wait_count(struct rt *t, const char *sql, long want, int deadline_ms);

/**
 * @brief Spawn $KOMEK_BIN/komek-<prog> with the test's topics and schema;
 * extra "--set k=v" style arguments NULL-terminated.  Logs to
 * t->logdir/<prog>-<n>.log, its path copied to log (NULL-able).
 * @returns the pid or -1.
 */
int rt_spawn(struct rt *t, const char *prog, const char *const *extra,
             char *log, size_t loglen);

/** @brief The last "<key> N" number in a log file, or -1. */
long rt_log_number(const char *log, const char *key);

/** @brief Run a program to completion (same settings); stdout to out
 *  (NULL-able, malloc'ed).  @returns its exit status. */
int rt_run(struct rt *t, const char *prog, const char *const *args,
           char **out);

#endif /* RT_H */
