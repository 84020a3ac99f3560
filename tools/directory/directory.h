/*
 * directory.h - komek-directory: imports the organisations and buildings
 * CSV files (komek-gen's output) into PostgreSQL, validates references,
 * reports what changed and bumps directory_version so running routers
 * reload; looks addresses up the way the router does.
 */
#ifndef DIRECTORY_H
#define DIRECTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "km_conf.h"
#include "km_err.h"

struct directory_conf {
        char *orgs_file;      /* default DIR/organisations.csv */
        char *buildings_file; /* default DIR/buildings.csv */
        char *channels_file;  /* default DIR/channels.csv, if it exists */
        int prune;            /* delete rows missing from the files */
        int dry_run;          /* validate and report, write nothing */
        int64_t max_errors;   /* errors listed before giving up */
        char *effective;      /* the import's effective date; NULL: today */
        int64_t utc_offset_h; /* of a date-only --effective */
};

/* One (building, kind) whose responsible organisation changed. */
struct directory_change {
        char *building_id, *kind;
        char *old_org, *new_org; /* NULL-able: none before / after */
        int had_history;         /* 0: the building's first period */
};

/* What an import changed in building_orgs (directory_history.c). */
struct directory_hist {
        int64_t effective;
        size_t n;
        struct directory_change *v; /* sorted by building, kind */
        size_t handovers, assigned, released, first;
};

/* One CSV file in memory: rows of fields, header first. */
struct directory_csv {
        char *path;
        size_t nrows, ncols;
        char ***rows;  /* rows[i][j], NUL-terminated UTF-8 */
        char **blocks; /* blocks[i] holds the text of rows[i] (km_csv_split) */
        size_t *lines; /* line number of each row (1-based) */
};

/* DIR/channels.csv being imported (directory_channels.c). */
struct directory_chan_ctx {
        const char *path;
        size_t nerr, max_errors;
        /* whether organisation id exists after the import */
        int (*known)(void *opaque, const char *id);
        void *opaque;
        struct directory_csv *csv;
        void *rows; /* private */
};

/* directory_csv.c */
int directory_csv_read(const char *path, struct directory_csv *csv, char *err,
                       size_t errlen) KM_MUSTCHECK;
/** @returns the column index of name in the header, or -1. */
int directory_csv_col(const struct directory_csv *csv, const char *name);
void directory_csv_free(struct directory_csv *csv);

/* directory_import.c */
int directory_import(const struct km_conf *conf,
                     const struct directory_conf *dc, const char *dir,
                     char *err, size_t errlen) KM_MUSTCHECK;

/* directory_channels.c */
/** @returns 1 when s is an address komek-notify can send to. */
int directory_email_ok(const char *s);
int directory_channels_read(struct directory_chan_ctx *cx, char *err,
                            size_t errlen) KM_MUSTCHECK;
int directory_channels_apply(PGconn *conn, struct directory_chan_ctx *cx,
                             int dry_run, char *err,
                             size_t errlen) KM_MUSTCHECK;
void directory_channels_free(struct directory_chan_ctx *cx);

/* directory_history.c */
/** @brief Parse --effective (YYYY-MM-DD: local midnight; RFC 3339; NULL
 *  or "": today).  @returns 0 or KM_ECONFIG. */
int directory_effective(const char *s, int64_t utc_offset_h, int64_t now,
                        int64_t *out, char *err, size_t errlen) KM_MUSTCHECK;
/** @brief Close and open responsibility periods after the buildings were
 *  written (same transaction).  @returns 0, KM_EINPUT (a change before a
 *  later period), KM_ERETRY, KM_EFATAL. */
int directory_hist_apply(PGconn *conn, int64_t effective, size_t max_errors,
                         struct directory_hist *out, char *err,
                         size_t errlen) KM_MUSTCHECK;
void directory_hist_report(const struct directory_hist *h, FILE *fp);
void directory_hist_free(struct directory_hist *h);
/** @brief `who BUILDING CATEGORY [TIME]`: the organisation responsible
 *  then (at NULL-able: now).  @returns 0, KM_EINPUT (nobody), ... */
int directory_hist_who(const struct km_conf *conf, const char *building,
                       const char *category, const char *at, char *err,
                       size_t errlen) KM_MUSTCHECK;

/* directory_handover.c */
/** @brief Hand the open tasks of every building whose organisation
 *  changed over to the new one (outbox, caller's transaction).
 *  @returns 0, KM_ERETRY, KM_EFATAL; *moved the tasks handed over. */
int directory_handover_tasks(PGconn *conn, const struct km_conf *conf,
                             const struct directory_hist *h, int64_t now,
                             size_t *moved, char *err,
                             size_t errlen) KM_MUSTCHECK;

/* directory_lookup.c */
int directory_lookup(const struct km_conf *conf, int nargs, char **args,
                     char *err, size_t errlen) KM_MUSTCHECK;
int directory_stats(const struct km_conf *conf, char *err,
                    size_t errlen) KM_MUSTCHECK;

#endif /* DIRECTORY_H */
