/*
 * inbox_view.c - `list`: the organisation's open incidents (if any, each
 * with its tasks: inbox_incident.c), then its open tasks, those a resident
 * disputed (reopened) first, then oldest first, overdue ones marked "!";
 * `show ID`: one task with the resident's
 * contact (the staff call back) and its history.  Data goes to stdout.
 */
#include <stdio.h>
#include <string.h>

#include "inbox.h"
#include "km_id.h"
#include "km_pg.h"

/* Tasks this organisation handed over when a building changed hands
 * (issue 17), the last 30 days, newest first. */
static int inbox_view_handed_over(PGconn *conn, const struct inbox_conf *ic,
                                  char *err, size_t errlen)
{
        const char *p[1] = {ic->org};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT complaint_id, to_char(created_at AT TIME ZONE "
                       "'UTC', 'YYYY-MM-DD HH24:MI'), coalesce(note, '') "
                       "FROM task_outbox WHERE org_id = $1 AND event = "
                       "'handed_over' AND created_at > now() - interval "
                       "'30 days' ORDER BY created_at DESC, complaint_id "
                       "LIMIT 50",
                       1, p, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res))
                printf("handed over (responsibility for the building "
                       "changed):\n");
        for (int i = 0; i < PQntuples(res); i++)
                printf("  %-36s  %-16s  handed over %s\n",
                       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2));
        PQclear(res);
        return 0;
}

int inbox_list(PGconn *conn, const struct inbox_conf *ic, char *err,
               size_t errlen)
{
        char lim[24];
        const char *p[3] = {ic->org, lim, ic->all ? "t" : "f"};
        PGresult *res = NULL;
        int r, overdue = 0;

        snprintf(lim, sizeof(lim), "%lld", (long long)ic->limit);
        /* the open incidents first (if any), each with its tasks; then
         * every task, as before */
        if (!ic->all && (r = inbox_incident_list(conn, ic, err, errlen)))
                return r;
        r = km_pg_exec(
                conn,
                "SELECT CASE WHEN due_at < now() AND status IN ('open', "
                "'acknowledged', 'reopened') THEN '!' ELSE ' ' END, "
                "complaint_id, "
                "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
                "to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
                "status, category, coalesce(left(address, 48), ''), attempt, "
                "(SELECT count(*) FROM tasks WHERE org_id = $1 AND status IN "
                "('open', 'acknowledged', 'reopened')), route_reason FROM tasks "
                "WHERE org_id "
                "= $1 AND ($3::bool OR status IN ('open', 'acknowledged', "
                "'reopened')) ORDER BY status = 'reopened' DESC, received_at, "
                "complaint_id LIMIT $2::int",
                3, p, &res, err, errlen);
        if (r)
                return r;
        printf("inbox of %s: %s open task(s), disputed (reopened) first, "
               "then oldest first; ! = past due (times UTC)\n",
               ic->org, PQntuples(res) ? PQgetvalue(res, 0, 8) : "0");
        if (PQntuples(res))
                printf("  %-36s  %-16s  %-16s  %-12s  %-12s  %s\n", "complaint",
                       "received", "due", "status", "category", "address");
        for (int i = 0; i < PQntuples(res); i++) {
                overdue += PQgetvalue(res, i, 0)[0] == '!';
                printf("%s %-36s  %-16s  %-16s  %-12s  %-12s  %s%s\n",
                       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                       PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                       PQgetvalue(res, i, 6),
                       strcmp(PQgetvalue(res, i, 9), "rerouted:handover") == 0
                               ? " (handed over: the building changed hands)"
                       : strcmp(PQgetvalue(res, i, 7), "1") ? " (re-routed)"
                                                            : "");
        }
        if (overdue)
                printf("%d shown past due\n", overdue);
        PQclear(res);
        return inbox_view_handed_over(conn, ic, err, errlen);
}

int inbox_show(PGconn *conn, const struct inbox_conf *ic, const char *id,
               char *err, size_t errlen)
{
        static const char *const names[] = {
                "complaint",    "attempt",  "organisation", "kind",
                "building",     "district", "category",     "route",
                "status",       "received", "routed",       "due",
                "acknowledged", "resolved", "note",         "address",
                "description",  "contact",  "source",       "channel",
                "emergency"};
        const char *p[2] = {id, ic->org};
        PGresult *res = NULL, *hist = NULL;
        int r;

        if (!km_id_valid(id))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "not a complaint id (a lower-case UUID)");
        r = km_pg_exec(
                conn,
                "SELECT complaint_id, attempt, org_id, org_kind, building_id, "
                "district, category, route_reason, status || CASE WHEN due_at < "
                "now() AND status IN ('open', 'acknowledged', 'reopened') THEN "
                "' (past due)' "
                "ELSE '' END, received_at, routed_at, due_at, acknowledged_at, "
                "resolved_at, status_note, address, description, contact::text, "
                "complaint->>'source', complaint->>'channel', "
                "coalesce(complaint->>'emergency', 'false') FROM tasks WHERE "
                "complaint_id = $1::uuid AND org_id = $2",
                2, p, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "no task %s in the inbox of %s", id, ic->org);
        }
        for (int j = 0; j < PQnfields(res); j++)
                if (!PQgetisnull(res, 0, j))
                        printf("%-13s %s\n", names[j], PQgetvalue(res, 0, j));
        PQclear(res);
        r = km_pg_exec(conn,
                       "SELECT at, what FROM (SELECT routed_at AS at, "
                       "'attempt ' || attempt || ': routed to ' || org_id || "
                       "' (' || route_reason || ')' AS what FROM "
                       "task_attempts WHERE complaint_id = $1::uuid UNION ALL "
                       "SELECT created_at, event || ' by ' || CASE WHEN "
                       "event IN ('reopened', 'confirmed', 'commented') "
                       "THEN 'the resident' ELSE org_id END || "
                       "coalesce(': ' || note, '') FROM task_outbox WHERE "
                       "complaint_id = $1::uuid AND topic = 'task_events') h "
                       "ORDER BY at",
                       1, p, &hist, err, errlen);
        if (r)
                return r;
        printf("history:\n");
        for (int i = 0; i < PQntuples(hist); i++)
                printf("  %s  %s\n", PQgetvalue(hist, i, 0),
                       PQgetvalue(hist, i, 1));
        PQclear(hist);
        return 0;
}
