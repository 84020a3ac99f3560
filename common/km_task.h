/*
 * km_task.h - state changes of a task by its organisation's staff (the
 * inbox, CLI or web), checked and recorded exactly once.
 *
 *   open ──ack──> acknowledged ──resolve──> resolved
 *     │  └──────────resolve───────────────────┘
 *     └──reject (open or acknowledged)──> rejected ──> re-routed: attempt+1
 *
 * Only the task's current organisation may change it.  Resolve needs a
 * note, reject a reason.  A rejected task is re-routed in the same
 * transaction: to the organisation a corrected category or building gives
 * (km_route_complaint), else to triage; triage itself can only re-route with a
 * correction.  The complaint keeps its id; attempt grows by one.
 *
 * The resident's answers, through an integration (komek-gateway's POST
 * /servicerequestupdates), are changes of the same kind, for whichever
 * organisation holds the task (org_id NULL):
 *
 *   resolved ──reopen (within the window)──> reopened ──ack/resolve/reject
 *   resolved ──confirm──> resolved (confirmed_at)
 *   any      ──comment──> unchanged (history only)
 *
 * A dispute restarts the SLA clock: due_at = now + the category's hours.
 * The resident's changes lock and change the task through
 * task_resident_lock and task_resident_change (105_task_reopen.sql), the
 * gateway's role holding no UPDATE on tasks either.
 *
 * One PostgreSQL transaction locks the row (FOR UPDATE), checks, updates
 * it and writes the task-events message (and the re-route's dispatch
 * message) to task_outbox; km_outbox_publish sends them after commit.
 * The lock and the update go through the SECURITY DEFINER functions
 * task_lock and task_change (deploy/sql/097_task_functions.sql): the
 * staff's roles (komek_web, komek_inbox) may not UPDATE tasks themselves.
 */
#ifndef KM_TASK_H
#define KM_TASK_H

#include <libpq-fe.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_dir.h"
#include "km_err.h"

#define KM_TASK_MAX_ATTEMPTS 10 /* then only triage may re-route */

enum km_task_action {
        KM_TASK_ACK,
        KM_TASK_RESOLVE,
        KM_TASK_REJECT,
        /* the resident's (org_id NULL): */
        KM_TASK_REOPEN,  /* dispute a resolution */
        KM_TASK_CONFIRM, /* confirm it */
        KM_TASK_COMMENT, /* a comment: note required */
        /* the directory's (km_task_handover): */
        KM_TASK_HANDOVER /* responsibility for the building changed */
};

#define KM_TASK_RESIDENT_NOTE_MAX 4000 /* a resident's text (Open311) */

struct km_task_change {
        const char *org_id; /* the staff's organisation; NULL for a
                                   * resident's change (any holder) */
        const char *complaint_id;
        enum km_task_action action;
        const char *note;        /* resolve: note; reject: reason */
        const char *category;    /* reject: corrected category, NULL-able */
        const char *building_id; /* reject: corrected building, NULL-able */
        int64_t at;              /* 0: now; else the change's own time
                                   * (komek-inbox play: a simulation), not
                                   * before the complaint's received_at or
                                   * the task's acknowledgement, nor in the
                                   * future */
        const char *event_id;    /* NULL-able: the task-events id (a
                                   * client's retry derives the same) */
        int64_t reopen_s;        /* reopen: allowed this long after the
                                   * resolution */
        const char *incident_id; /* NULL-able: the incident resolved with
                                   * this change (km_incident.h): goes into
                                   * the task-events message */
};

struct km_task_result {
        char status[16];   /* the new status */
        int attempt;       /* reject: the new attempt */
        char new_org[64];  /* reject: where it went */
        char reason[80];   /* reject: the route reason */
        char event_id[40]; /* the task-events message written */
        char org[64];      /* the organisation holding the task */
};

/**
 * @brief Apply one change.
 * @param dir the directory (needed for KM_TASK_REJECT; NULL-able else)
 * @returns 0; KM_EINPUT when the change is refused (unknown task, another
 *          organisation's task, wrong state, missing note, bad
 *          correction) with the reason in err; KM_ERETRY / KM_EFATAL on
 *          database trouble.  Nothing is written unless it returns 0.
 */
int km_task_apply(PGconn *conn, const struct km_conf *conf,
                  const struct km_dir *dir, const struct km_task_change *ch,
                  struct km_task_result *out, char *err,
                  size_t errlen) KM_MUSTCHECK;

/**
 * @brief Hand an open task over to the organisation now responsible for
 * its building (komek-directory import, issue 17): in the caller's
 * transaction, lock the task of from_org, queue its task-events message
 * "handed_over" (reason "rerouted:handover", note "to <org>") and the
 * dispatch message of attempt + 1 to @p to (route_reason
 * "rerouted:handover", due_at kept) in task_outbox.
 * @param at the handover's time (0: now)
 * @returns 0; KM_EINPUT when the task is not open at from_org;
 *          KM_ERETRY / KM_EFATAL.
 */
int km_task_handover(PGconn *conn, const struct km_conf *conf,
                     const char *complaint_id, const char *from_org,
                     const struct km_dir_org *to, int64_t at,
                     struct km_task_result *out, char *err,
                     size_t errlen) KM_MUSTCHECK;

/**
 * @brief Order the two handovers (issue 17) in the caller's transaction:
 * komek-directory import (exclusive, before it changes anything) and each
 * task sink batch (shared, before it writes).  Without it a batch could
 * write tasks for an old organisation while an import commits: the batch's
 * stale check still sees the old periods, the import's handover cannot see
 * the batch's uncommitted tasks, and those tasks stay with the old
 * organisation (test_reload found 86 so on a loaded machine).  With it,
 * whichever comes second sees what the first committed (READ COMMITTED:
 * every later statement has a new snapshot).  A transaction-scoped
 * advisory lock (bigint key 7305310002; komek-admin's migrations hold
 * 7305310001): sinks do not wait for each other, only for an import.
 * @returns 0, KM_ERETRY / KM_EFATAL.
 */
int km_task_handover_lock(PGconn *conn, int exclusive, char *err,
                          size_t errlen) KM_MUSTCHECK;

/** @brief "acknowledged", "resolved", "rejected", "reopened",
 *  "confirmed", "commented", "handed_over". */
const char *km_task_event_name(enum km_task_action a);

#endif /* KM_TASK_H */
