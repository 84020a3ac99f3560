/*
 * km_incident.c - see km_incident.h.
 *
 * SECURITY: the organisation is the caller's (the session's or the
 * --org's), the incident id is checked as a UUID and only ever a query
 * parameter; the note is staff text, checked by km_task_apply and never
 * logged.
 */
#include "km_incident.h"

#include <string.h>

#include "km_id.h"
#include "km_pg.h"
#include "km_task.h"

int km_incident_resolve(PGconn *conn, const struct km_conf *conf,
                        const char *org_id, const char *incident_id,
                        const char *note, km_incident_done_cb *done, void *arg,
                        struct km_incident_counts *counts, char *err,
                        size_t errlen)
{
        const char *p[2] = {org_id, incident_id};
        PGresult *res = NULL;
        int r = 0;

        memset(counts, 0, sizeof(*counts));
        if (!km_id_valid(incident_id))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "not an incident id (a lower-case UUID)");
        if (note == NULL || !*note)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "resolve needs a note");
        /* every task of the incident, open first; the list is read once:
         * a task joining afterwards is left for the next resolve */
        r = km_pg_exec(conn,
                       "SELECT complaint_id, status IN ('open', "
                       "'acknowledged', 'reopened') FROM incident_tasks "
                       "WHERE org_id = $1 AND incident_id = $2::uuid "
                       "ORDER BY received_at, complaint_id",
                       2, p, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) == 0) {
                PQclear(res);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "no incident %s in the inbox of %s",
                                  incident_id, org_id);
        }
        for (int i = 0; i < PQntuples(res); i++) {
                struct km_task_change ch;
                struct km_task_result out;
                char terr[512];

                if (PQgetvalue(res, i, 1)[0] != 't')
                        continue;
                memset(&ch, 0, sizeof(ch));
                ch.org_id = org_id;
                ch.complaint_id = PQgetvalue(res, i, 0);
                ch.action = KM_TASK_RESOLVE;
                ch.note = note;
                ch.incident_id = incident_id;
                r = km_task_apply(conn, conf, NULL, &ch, &out, terr,
                                  sizeof(terr));
                if (r == KM_EINPUT) {
                        /* changed since the list was read (or refused for
                         * all: a bad note, reported below) */
                        if (counts->refused++ == 0)
                                km_err_set(err, errlen, r, "%s", terr);
                        r = 0;
                        continue;
                }
                if (r) {
                        km_err_set(err, errlen, r, "%s", terr);
                        break;
                }
                counts->resolved++;
                if (done)
                        done(arg, ch.complaint_id);
        }
        PQclear(res);
        if (r == 0 && counts->resolved == 0 && counts->refused > 0)
                r = KM_EINPUT; /* nothing done: err has the first reason */
        return r;
}
