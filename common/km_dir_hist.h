/*
 * km_dir_hist.h - who was responsible on the day (issue 17): the
 * responsibility periods of the directory (building_orgs,
 * deploy/sql/107_directory_history.sql) in memory, for routing a
 * complaint to the organisation responsible at its received_at.
 *
 * Only the (building, kind) pairs whose history is more than the one
 * open period from -infinity are held: for every other building the
 * directory's current organisation (km_dir.h) is the answer at any time,
 * so a directory without handovers costs nothing on the hot path.
 * Read-only once loaded; a reload builds a new one.
 */
#ifndef KM_DIR_HIST_H
#define KM_DIR_HIST_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "km_complaint.h"
#include "km_conf.h"
#include "km_dir.h"
#include "km_err.h"
#include "km_route.h"

struct km_dir_hist; /* opaque */

/**
 * @brief Load the periods that differ from "always the current one".
 * @returns 0 and *out (free with km_dir_hist_destroy), or KM_ERETRY /
 *          KM_EFATAL.
 */
int km_dir_hist_load(PGconn *conn, struct km_dir_hist **out, char *err,
                     size_t errlen) KM_MUSTCHECK;

/** @brief Periods held. */
size_t km_dir_hist_nperiods(const struct km_dir_hist *h);

/** @brief Free; NULL-able. */
void km_dir_hist_destroy(struct km_dir_hist *h);

/**
 * @brief The organisation responsible for building_id, kind, at t.
 * @returns 1 and *org_id (NULL: nobody then; valid while h lives) when
 *          the building has a history for kind; 0 when it has none (the
 *          current directory answers).
 */
int km_dir_hist_at(const struct km_dir_hist *h, const char *building_id,
                   const char *kind, int64_t t, const char **org_id);

/**
 * @brief Correct a route (km_route_complaint's, by the current directory)
 * to the organisation responsible at the complaint's received_at: that
 * organisation, or triage ("no_organisation") when nobody was.
 * @param h NULL-able (no history: nothing changes)
 */
void km_dir_hist_route(const struct km_dir_hist *h, const struct km_dir *dir,
                       const struct km_conf *conf, const struct km_complaint *c,
                       struct km_route *r);

#endif /* KM_DIR_HIST_H */
