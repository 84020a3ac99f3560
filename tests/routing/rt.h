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
        char env_pg[1100]; /* KOMEK_PG_CONNINFO=... */
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
 * or id).  *unique gets the number of distinct valid complaints of the
 * whole file, published or not (NULL-able), from the generator's
 * truth.csv; the publisher's own parse must agree with it (else -1).
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
int rt_run(struct rt *t, const char *prog, const char *const *args, char **out);

/*
 * The generator's truth, read by the test's own code (never the model
 * under test): truth.csv (one row per line of complaints.jsonl: source,
 * external_id, valid, reason, true building, category) and buildings.csv.
 * For each distinct valid complaint (source + external_id) the
 * organisation it must reach: its true building's ksk_id, or
 * lift_operator_id when the category's configured kind is lift_operator;
 * triage when the building is unknown or has no such organisation.
 */
struct rt_truth_cpl {
        char *key;                    /* "source\texternal_id" */
        char *org;                    /* the expected organisation id */
        char *building_id, *category; /* "" when unknown */
        int copies; /* valid lines with this key (a resubmission: > 1) */
};

struct rt_truth {
        size_t lines, valid, invalid; /* rows of truth.csv */
        size_t n;                     /* distinct valid complaints */
        struct rt_truth_cpl *cpl;     /* sorted by key */
        size_t triage, lift; /* of cpl: to triage, to a lift operator */
};

/** @brief Read t->datadir's truth.csv and buildings.csv.  @returns 0/-1. */
int rt_truth_load(struct rt *t, struct rt_truth *tr);
void rt_truth_free(struct rt_truth *tr);

/** @brief The expected complaint for source + external_id, or NULL. */
const struct rt_truth_cpl *rt_truth_find(const struct rt_truth *tr,
                                         const char *source,
                                         const char *external_id);

/**
 * @brief Compare the tasks table with the truth, complaint by complaint:
 * every distinct valid complaint is exactly one task, at the organisation
 * the truth gives, and no task is outside the truth.  Prints the counts
 * and the first differences.  @returns the number of differences (lost +
 * doubled + extra + wrong organisation), -1 on a query error.
 */
long rt_truth_check_tasks(struct rt *t, const struct rt_truth *tr);

/**
 * @brief Read topic with isolation.level=read_committed from the beginning
 * of every partition until the consumer reports the end (the last stable
 * offset) on every one of them.  No waiting for "nothing more": an end
 * reached means every committed message before it was read.
 * @returns the committed messages read, -1 if the end was not reached on
 * every partition within deadline_ms.
 */
long rt_committed_to_end(struct rt *t, const char *topic, int deadline_ms);

/**
 * @brief Poll until consumer group's committed offsets (as the broker
 * keeps them; read with an OffsetFetch, without joining the group) equal
 * topic's high watermarks on every partition: the group has consumed
 * and committed everything on it.  For a topic without transactions (the
 * high watermark is then one past the last message).
 * @returns 0, or -1 at the deadline (the gap printed).
 */
int rt_group_drained(struct rt *t, const char *group, const char *topic,
                     int deadline_ms);

#endif /* RT_H */
