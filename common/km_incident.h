/*
 * km_incident.h - an organisation's incident resolved with one note.
 *
 * Incidents are computed by PostgreSQL from the stored tasks (the views
 * incident_tasks and incidents, deploy/sql/114_incidents.sql,
 * docs/incidents.md); nothing here decides what an incident is.
 * Resolving one resolves each of its open tasks with km_task_apply, the
 * one path of a staff change: each task gets its own checked change
 * (task_lock/task_change) and its own task-events message, carrying the
 * incident_id, in a transaction of its own.  A crash or a refusal part of
 * the way leaves the tasks done so far resolved; resolving the incident
 * again resolves the rest (a resolved task is no longer open).
 */
#ifndef KM_INCIDENT_H
#define KM_INCIDENT_H

#include <libpq-fe.h>
#include <stddef.h>

#include "km_conf.h"
#include "km_err.h"

/** Called after each task's change committed (to publish its outbox). */
typedef void(km_incident_done_cb)(void *arg, const char *complaint_id);

struct km_incident_counts {
        int resolved; /* tasks this call resolved */
        int refused;  /* open when listed, refused by km_task_apply (a
                       * concurrent change got there first) */
};

/**
 * @brief Resolve every open task of incident_id held by org_id.
 * @param done NULL-able: called with each resolved complaint id
 * @returns 0 (counts set; nothing open is not an error; a task changed
 *          meanwhile is counted refused); KM_EINPUT for an unknown
 *          incident or another organisation's, a bad note, or every open
 *          task refused, with the (first) reason in err; KM_ERETRY /
 *          KM_EFATAL on database trouble (the tasks resolved so far stay
 *          resolved).
 */
int km_incident_resolve(PGconn *conn, const struct km_conf *conf,
                        const char *org_id, const char *incident_id,
                        const char *note, km_incident_done_cb *done, void *arg,
                        struct km_incident_counts *counts, char *err,
                        size_t errlen) KM_MUSTCHECK;

#endif /* KM_INCIDENT_H */
