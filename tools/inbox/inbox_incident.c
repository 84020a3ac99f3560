/*
 * inbox_incident.c - incidents in komek-inbox (docs/incidents.md):
 *   `list` starts with the organisation's open incidents, each with its
 *          tasks (then every open task, as without incidents);
 *   `incident ID` shows one incident and its tasks;
 *   `resolve-incident ID --note TEXT` resolves each of its open tasks
 *          (km_incident_resolve: each its own change and task-events
 *          message), then publishes their outbox rows.
 * What an incident is, PostgreSQL computes (114_incidents.sql).
 */
#include <stdio.h>
#include <string.h>

#include "inbox.h"
#include "km_id.h"
#include "km_incident.h"
#include "km_kafka.h"
#include "km_log.h"
#include "km_outbox.h"
#include "km_pg.h"

/* The incidents (all: resolved too) of org, open first, each followed by
 * its tasks. */
static int inbox_incident_print(PGconn *conn, const char *org, const char *id,
                                int all, char *err, size_t errlen)
{
        const char *p[3] = {org, id, all ? "t" : "f"};
        PGresult *res = NULL;
        const char *cur = "";
        int r;

        r = km_pg_exec(
                conn,
                "SELECT i.incident_id, i.scope, i.category, i.label, i.tasks, "
                "i.open_tasks, i.buildings, to_char(i.first_at AT TIME ZONE "
                "'UTC', 'YYYY-MM-DD HH24:MI'), to_char(i.last_at AT TIME ZONE "
                "'UTC', 'YYYY-MM-DD HH24:MI'), i.status, t.complaint_id, "
                "t.status, t.building_id, to_char(t.received_at AT TIME ZONE "
                "'UTC', 'YYYY-MM-DD HH24:MI') FROM incidents i JOIN "
                "incident_tasks t ON t.incident_id = i.incident_id AND t.org_id "
                "= i.org_id WHERE i.org_id = $1 AND ($2::uuid IS NULL OR "
                "i.incident_id = $2::uuid) AND ($3::bool OR i.status = 'open') "
                "ORDER BY i.status = 'open' DESC, i.first_at, i.incident_id, "
                "t.received_at, t.complaint_id",
                3, p, &res, err, errlen);
        if (r)
                return r;
        if (id && PQntuples(res) == 0) {
                PQclear(res);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "no incident %s in the inbox of %s", id, org);
        }
        for (int i = 0; i < PQntuples(res); i++) {
                if (strcmp(cur, PQgetvalue(res, i, 0)) != 0) {
                        cur = PQgetvalue(res, i, 0);
                        printf("incident %s  %s %s: %s  %s task(s), %s "
                               "open, %s building(s), %s .. %s  %s\n",
                               cur, PQgetvalue(res, i, 2),
                               PQgetvalue(res, i, 1), PQgetvalue(res, i, 3),
                               PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                               PQgetvalue(res, i, 6), PQgetvalue(res, i, 7),
                               PQgetvalue(res, i, 8), PQgetvalue(res, i, 9));
                }
                printf("    %-36s  %-16s  %-12s  %s\n", PQgetvalue(res, i, 10),
                       PQgetvalue(res, i, 13), PQgetvalue(res, i, 11),
                       PQgetvalue(res, i, 12));
        }
        PQclear(res);
        return 0;
}

int inbox_incident_list(PGconn *conn, const struct inbox_conf *ic, char *err,
                        size_t errlen)
{
        const char *p[1] = {ic->org};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT count(*) FROM incidents WHERE org_id = $1 AND "
                       "status = 'open'",
                       1, p, &res, err, errlen);
        if (r)
                return r;
        if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
                PQclear(res);
                return 0;
        }
        printf("%s open incident(s), each with its tasks:\n",
               PQgetvalue(res, 0, 0));
        PQclear(res);
        return inbox_incident_print(conn, ic->org, NULL, 0, err, errlen);
}

int inbox_incident_show(PGconn *conn, const struct inbox_conf *ic,
                        const char *id, char *err, size_t errlen)
{
        if (!km_id_valid(id))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "not an incident id (a lower-case UUID)");
        return inbox_incident_print(conn, ic->org, id, 1, err, errlen);
}

struct inbox_pub {
        PGconn *conn;
        const struct km_conf *conf;
        rd_kafka_t *rk;
        struct km_kafka_counts counts;
};

/* After each task's commit: publish its outbox rows (what fails here,
 * komek-tasksink relays). */
static void inbox_incident_done(void *arg, const char *complaint_id)
{
        struct inbox_pub *ip = arg;
        char err[512];
        int n = 0;

        printf("%s resolved\n", complaint_id);
        if (ip->rk == NULL)
                return;
        if (km_outbox_publish(ip->conn, ip->rk, &ip->counts, ip->conf,
                              complaint_id, 0, 100, &n, err, sizeof(err)))
                km_log_warn("publish: %s (komek-tasksink will relay)", err);
}

int inbox_incident_resolve(PGconn *conn, const struct km_conf *conf,
                           const struct inbox_conf *ic, const char *id,
                           char *err, size_t errlen)
{
        struct inbox_pub ip;
        struct km_incident_counts n;
        char kerr[512];
        int r;

        memset(&ip, 0, sizeof(ip));
        ip.conn = conn;
        ip.conf = conf;
        if (ic->publish &&
            (ip.rk = km_kafka_producer_new(conf, NULL, &ip.counts, kerr,
                                           sizeof(kerr))) == NULL)
                km_log_warn("publish: %s (komek-tasksink will relay)", kerr);
        r = km_incident_resolve(conn, conf, ic->org, id, ic->note,
                                inbox_incident_done, &ip, &n, err, errlen);
        if (ip.rk)
                rd_kafka_destroy(ip.rk);
        if (r == 0)
                printf("incident %s: %d task(s) resolved, %d refused "
                       "(changed meanwhile)\n",
                       id, n.resolved, n.refused);
        return r;
}
