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

#include "km_conf.h"

struct directory_conf {
        char *orgs_file;      /* default DIR/organisations.csv */
        char *buildings_file; /* default DIR/buildings.csv */
        int prune;            /* delete rows missing from the files */
        int dry_run;          /* validate and report, write nothing */
        int64_t max_errors;   /* errors listed before giving up */
};

/* One CSV file in memory: rows of fields, header first. */
struct directory_csv {
        char *path;
        size_t nrows, ncols;
        char ***rows;   /* rows[i][j], NUL-terminated UTF-8 */
        size_t *lines;  /* line number of each row (1-based) */
};

/* directory_csv.c */
int directory_csv_read(const char *path, struct directory_csv *csv,
                       char *err, size_t errlen);
/** @returns the column index of name in the header, or -1. */
int directory_csv_col(const struct directory_csv *csv, const char *name);
void directory_csv_free(struct directory_csv *csv);

/* directory_import.c */
int directory_import(const struct km_conf *conf,
                     const struct directory_conf *dc, const char *dir,
                     char *err, size_t errlen);

/* directory_lookup.c */
int directory_lookup(const struct km_conf *conf, int nargs, char **args,
                     char *err, size_t errlen);
int directory_stats(const struct km_conf *conf, char *err, size_t errlen);

#endif /* DIRECTORY_H */
