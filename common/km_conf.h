/*
 * km_conf.h - configuration: a {key, type, default, min, max} table, then
 * the libconfig file, then the environment (KOMEK_BROKERS,
 * KOMEK_PG_CONNINFO), then command-line flags; validated once at start.
 *
 * The file has common groups (kafka, topics, pg, log, limits, categories)
 * and one group per program (router { ... }).  A program validates the
 * common groups and its own; it skips the groups of other komek programs,
 * so one komek.conf serves them all.  Anything else is an unknown key.
 * `kafka { }` goes verbatim to rd_kafka_conf_set with '_' read as '.'
 * (libconfig names cannot hold dots): bootstrap_servers -> bootstrap.servers.
 * Every program's group may hold pg_user (router.pg_user): applied last, it
 * replaces the user of pg.conninfo and pg.read_conninfo (parsed by libpq,
 * so a bad conninfo is a config error then), so each program logs in as
 * its own least-privilege role from one shared pg { }.
 *
 * Errors are one line naming file, line and key, for example
 *   deploy/komek.conf:12: router.batch_size: 0 < 1
 * and the function returns KM_ECONFIG: the program prints it and exits 2.
 */
#ifndef KM_CONF_H
#define KM_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "km_err.h"

enum km_conf_type {
        KM_CT_INT,    /* int64_t */
        KM_CT_DOUBLE, /* double */
        KM_CT_BOOL,   /* int (0/1) */
        KM_CT_STR,    /* char *, owned by the conf, freed by km_conf_destroy */
};

struct km_conf_key {
        const char *path; /* "router.batch_size" */
        enum km_conf_type type;
        const char *def;  /* default as text; NULL for a NULL string */
        double min, max;  /* range; for strings max length (0: none) */
        size_t offset;    /* offsetof() into the described struct */
        const char *flag; /* command-line flag ("batch-size") or NULL */
        const char *help; /* one line for --help and --dump-config */
};

struct km_category {
        char *code; /* service_code: water_supply */
        char *kind; /* organisation kind that handles it: ksk, lift_operator */
        char *ru, *en;
        int64_t sla_hours;
};

struct km_conf {
        const char *prog; /* program name without komek- (its group) */
        char *path;       /* the file read, or NULL */

        char *brokers;
        size_t nkafka;
        char **kafka_keys, **kafka_vals;

        char *topic_complaints, *topic_dlq, *topic_dispatch;
        char *topic_task_events, *topic_votes, *topic_escalations;
        int64_t part_complaints, part_dlq, part_dispatch;
        int64_t part_task_events, part_votes, part_escalations;
        int64_t topic_replicas, topic_min_isr; /* topics.replication_factor.. */
        int64_t repl_complaints, repl_dlq,
                repl_dispatch; /* 0: topic_replicas */
        int64_t repl_task_events, repl_votes, repl_escalations;

        char *pg_conninfo;
        char *pg_read_conninfo; /* "": pg_conninfo (km_pg_read_conninfo) */
        int64_t pg_connect_timeout_s;
        char *pg_user; /* <prog>.pg_user: "" keeps pg.conninfo's user */

        char *log_level;
        int log_json;

        int64_t max_message_bytes;     /* a bigger message is too_large */
        int64_t max_description_chars; /* Open311: 4,000 */
        int64_t future_skew_s;         /* received_at may be this far ahead */

        size_t ncategories;
        struct km_category *categories;

        const struct km_conf_key *ptable; /* the program's own keys */
        void *pstruct;

        int nargs; /* positional arguments (not owned) */
        char **args;
        int help; /* --help given */
        int dump; /* --dump-config given */
};

/**
 * @brief Fill conf: defaults, file, environment, flags; validate.
 * @param ptable the program's key table, terminated by a {NULL} row (NULL-able)
 * @param pstruct the struct ptable's offsets point into (NULL-able)
 * @returns 0, or KM_ECONFIG with one line in err.  On --help, returns 0
 *          with conf->help set: the program prints its usage and exits 0.
 */
int km_conf_main(struct km_conf *conf, const char *prog,
                 const struct km_conf_key *ptable, void *pstruct, int argc,
                 char **argv, char *err, size_t errlen) KM_MUSTCHECK;

/** @brief Set one key by path from text (as a flag would). */
int km_conf_set(struct km_conf *conf, const char *path, const char *value,
                char *err, size_t errlen) KM_MUSTCHECK;

/** @brief Print the effective values (kcat -X dump) to fp. */
void km_conf_dump(const struct km_conf *conf, FILE *fp);

/** @brief Print the common options and the program's flags to fp. */
void km_conf_usage(const struct km_conf *conf, FILE *fp);

/** @brief Look up a category by code. @returns NULL if unknown. */
const struct km_category *km_conf_category(const struct km_conf *conf,
                                           const char *code);

/** @brief Free what conf owns.  Accepts a zeroed or half-filled conf. */
void km_conf_destroy(struct km_conf *conf);

#endif /* KM_CONF_H */
