/*
 * km_dir.h - the building directory in memory: organisations, buildings
 * and address matching (the routing rules are in km_route.h).
 *
 * Loaded from PostgreSQL (organisations, buildings, directory_version:
 * deploy/sql/010_directory.sql) in one REPEATABLE READ snapshot.  Street
 * and house keys are recomputed here with km_addr, so the router and the
 * importer always agree.  Lookups are hash tables (a misspelt street
 * is compared only with the streets that have its house, a point only
 * with the buildings in the grid cells within reach); a directory is
 * read-only once loaded, so a reload builds a new one and swaps.
 */
#ifndef KM_DIR_H
#define KM_DIR_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "km_complaint.h"
#include "km_conf.h"
#include "km_err.h"

#define KM_DIR_TRIAGE "triage"

struct km_dir_org {
        const char *id, *kind, *name, *district; /* district NULL-able */
};

struct km_dir_building {
        const char *id, *district, *street, *house;
        const char *ksk_id, *lift_id; /* NULL-able */
        const char *street_key, *house_key, *district_key;
        int apartments;
        int has_geo;
        double lat, lon;
        int32_t next_same; /* next building with the same address, -1 */
};

struct km_dir; /* opaque */

/**
 * @brief Load the directory.
 * @returns 0 and *out (free with km_dir_destroy), or KM_ERETRY/KM_EFATAL.
 */
int km_dir_load(PGconn *conn, struct km_dir **out, char *err,
                size_t errlen) KM_MUSTCHECK;

/** @brief The stored directory version (bumped by komek-directory). */
int km_dir_version_get(PGconn *conn, int64_t *version, char *err,
                       size_t errlen) KM_MUSTCHECK;

/** @brief Version this directory was loaded at. */
int64_t km_dir_version(const struct km_dir *dir);
size_t km_dir_nbuildings(const struct km_dir *dir);
size_t km_dir_norgs(const struct km_dir *dir);

/** @brief Free; NULL-able. */
void km_dir_destroy(struct km_dir *dir);

/** @returns the organisation or NULL. */
const struct km_dir_org *km_dir_org(const struct km_dir *dir, const char *id);

/** @returns the triage organisation (a built-in one if the table lacks it). */
const struct km_dir_org *km_dir_triage(const struct km_dir *dir);

/** @returns the building or NULL. */
const struct km_dir_building *km_dir_building(const struct km_dir *dir,
                                              const char *id);

/**
 * @brief Match an address to one building.
 * @param district,street,house,text NULL-able parts of the address
 * @returns the building, or NULL when unknown or ambiguous.
 */
const struct km_dir_building *km_dir_match(const struct km_dir *dir,
                                           const char *district,
                                           const char *street,
                                           const char *house, const char *text);

/**
 * @brief The reference of km_dir_match: a misspelt street is compared
 * with every street of the directory.  Same answer, slower (tests).
 */
const struct km_dir_building *
km_dir_match_scan(const struct km_dir *dir, const char *district,
                  const char *street, const char *house, const char *text);

/**
 * @brief The nearest building within 75 m of lat/long, or NULL; of
 * equally near ones the first by id.  Looks at the grid cells in reach.
 */
const struct km_dir_building *km_dir_near(const struct km_dir *dir, double lat,
                                          double lon);

/** @brief The reference of km_dir_near: every building (tests). */
const struct km_dir_building *km_dir_near_scan(const struct km_dir *dir,
                                               double lat, double lon);

#endif /* KM_DIR_H */
