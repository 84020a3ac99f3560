/*
 * th.h - handover fixtures for the directory-history tests (issue 17):
 * a copy of a generated directory in which one KSK hands all its
 * buildings to another and leaves the organisations file.
 */
#ifndef TH_H
#define TH_H

#include "rt.h"

struct th_handover {
        char from[40], to[40]; /* the KSK leaving, the one taking over */
        char building[40];     /* the first of from's buildings */
        long nbuildings;       /* how many of them */
        long apartments;       /* their apartments */
        char buildings[4096];  /* their ids, comma-separated */
};

/** @brief Write dir (organisations.csv, buildings.csv) from t->datadir
 *  with the first building's KSK handing everything to another KSK and
 *  leaving.  @returns 0 or -1. */
int th_make_handover(struct rt *t, const char *dir, struct th_handover *h);

/** @brief Rewrite dir so that h->building goes back to h->from (who is in
 *  the organisations file again).  @returns 0 or -1. */
int th_swap_back(struct rt *t, const char *dir, const struct th_handover *h);

#endif /* TH_H */
