/*
 * directory_handover.c - open tasks follow the building (issue 17): after
 * an import changed who is responsible for a building (directory_history.c),
 * every open task of that building held by the old organisation, of a
 * category of that kind, is handed over to the new one (to triage when
 * the building has none now) with km_task_handover: a task-events
 * "handed_over" message and the dispatch of attempt + 1 (route_reason
 * rerouted:handover) in task_outbox, in the import's transaction.
 * komek-tasksink's relay publishes them after the commit and applies the
 * dispatch; both inboxes then show the task (the old one as handed over).
 *
 * XXX an effective date in the future moves the tasks at the import, not
 * on that day.  XXX between the commit and the sink's applying attempt + 1
 * the old organisation can still change the task (task_lock goes by
 * tasks.org_id); a resolution then is overtaken by the re-route.
 */
#include <stdio.h>
#include <string.h>

#include "directory.h"
#include "km_dir.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_task.h"

static int dir_handover_one(PGconn *conn, const struct km_conf *conf,
                            const struct directory_change *c, int64_t at,
                            size_t *moved, char *err, size_t errlen)
{
        const struct km_dir_org to = {
                .id = c->new_org ? c->new_org : KM_DIR_TRIAGE,
                .kind = c->new_org ? c->kind : "triage",
                .name = "",
        };
        const char *p[3] = {c->building_id, c->old_org, c->kind};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT t.complaint_id FROM tasks t JOIN categories k "
                       "ON k.code = t.category WHERE t.building_id = $1 AND "
                       "t.org_id = $2 AND k.kind = $3 AND t.status IN "
                       "('open', 'acknowledged', 'reopened') ORDER BY "
                       "t.received_at, t.complaint_id",
                       3, p, &res, err, errlen);
        if (r)
                return r;
        for (int i = 0; i < PQntuples(res) && r == 0; i++) {
                struct km_task_result out;

                r = km_task_handover(conn, conf, PQgetvalue(res, i, 0),
                                     c->old_org, &to, at, &out, err, errlen);
                if (r == KM_EINPUT) { /* changed meanwhile: no longer open */
                        r = 0;
                        continue;
                }
                if (r == 0) {
                        printf("handed over: task %s of %s from %s to %s "
                               "(attempt %d)\n",
                               PQgetvalue(res, i, 0), c->building_id,
                               c->old_org, to.id, out.attempt);
                        (*moved)++;
                }
        }
        PQclear(res);
        return r;
}

int directory_handover_tasks(PGconn *conn, const struct km_conf *conf,
                             const struct directory_hist *h, int64_t now,
                             size_t *moved, char *err, size_t errlen)
{
        int r = 0;

        *moved = 0;
        for (size_t i = 0; i < h->n && r == 0; i++) {
                const struct directory_change *c = &h->v[i];

                if (!c->had_history || c->old_org == NULL)
                        continue;
                r = dir_handover_one(conn, conf, c, now, moved, err, errlen);
        }
        return r;
}
