/*
 * km_task.c - see km_task.h.
 *
 * SECURITY: the note, reason and corrections are staff input: they travel
 * only as query parameters and JSON strings, are bounded (1,000
 * characters, no control characters but newline) and are never logged.
 */
#include "km_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_complaint.h"
#include "km_id.h"
#include "km_pg.h"
#include "km_route.h"
#include "km_utf8.h"
#include "km_util.h"

#define KM_TASK_NOTE_MAX 1000

const char *km_task_event_name(enum km_task_action a)
{
        static const char *const names[] = {
                [KM_TASK_ACK] = "acknowledged",
                [KM_TASK_RESOLVE] = "resolved",
                [KM_TASK_REJECT] = "rejected",
                [KM_TASK_REOPEN] = "reopened",
                [KM_TASK_CONFIRM] = "confirmed",
                [KM_TASK_COMMENT] = "commented",
                [KM_TASK_HANDOVER] = "handed_over",
        };

        return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

/* Queue the task-events message of the task held by org in the outbox. */
static int km_task_event(PGconn *conn, const struct km_task_change *ch,
                         const char *org, int attempt,
                         struct km_task_result *out, char *err, size_t errlen)
{
        char id[KM_ID_LEN], at[32], att[16];
        const char *ev = km_task_event_name(ch->action);
        json_t *o;
        char *payload;
        int r;

        if (ch->event_id)
                snprintf(id, sizeof(id), "%s", ch->event_id);
        else
                km_id_random(id);
        snprintf(out->event_id, sizeof(out->event_id), "%s", id);
        km_fmt_rfc3339(ch->at ? ch->at : km_wall_s(), at, sizeof(at));
        snprintf(att, sizeof(att), "%d", attempt);
        o = json_pack("{s:i,s:s,s:s,s:i,s:s,s:s,s:s}", "schema_version", 1,
                      "event_id", id, "complaint_id", ch->complaint_id,
                      "attempt", attempt, "org_id", org, "event", ev, "at", at);
        if (ch->action >= KM_TASK_REOPEN && ch->action <= KM_TASK_COMMENT)
                json_object_set_new(o, "by", json_string("resident"));
        if (ch->note && *ch->note)
                json_object_set_new(o, "note", json_string(ch->note));
        if (ch->action == KM_TASK_REJECT)
                json_object_set_new(o, "reason", json_string("not_ours"));
        if (ch->incident_id)
                json_object_set_new(o, "incident_id",
                                    json_string(ch->incident_id));
        if (ch->action == KM_TASK_HANDOVER)
                json_object_set_new(o, "reason",
                                    json_string("rerouted:handover"));
        payload = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        {
                const char *p[7] = {id, ch->complaint_id, payload, att, org,
                                    ev, ch->note};

                r = km_pg_exec(
                        conn,
                        "INSERT INTO task_outbox (event_id, topic, "
                        "msg_key, payload, complaint_id, attempt, "
                        "org_id, event, note) VALUES ($1, "
                        "'task_events', $2::text, $3, $2::uuid, $4, $5, $6, $7)",
                        7, p, NULL, err, errlen);
        }
        free(payload);
        return r;
}

/* The re-route of a rejected task: route the (corrected) complaint and
 * queue the dispatch message of attempt + 1. */
static int km_task_reroute(PGconn *conn, const struct km_conf *conf,
                           const struct km_dir *dir,
                           const struct km_task_change *ch,
                           const char *complaint_json, int attempt,
                           struct km_task_result *out, char *err, size_t errlen)
{
        char reason[KM_REASON_LEN], detail[256], id[KM_ID_LEN], att[16];
        const char *why = "rerouted:not_ours";
        struct km_complaint *c = NULL;
        struct km_route route;
        json_t *obj = json_loads(complaint_json, 0, NULL);
        char *payload = NULL;
        int r;

        if (obj == NULL)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "stored complaint is not JSON");
        if (ch->category) {
                json_object_set_new(obj, "category", json_string(ch->category));
                why = "rerouted:category";
        }
        if (ch->building_id) {
                if (km_dir_building(dir, ch->building_id) == NULL) {
                        json_decref(obj);
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "unknown building %s",
                                          ch->building_id);
                }
                json_object_set_new(obj, "building_id",
                                    json_string(ch->building_id));
                why = ch->category ? "rerouted:category,building"
                                   : "rerouted:building";
        }
        /* received_at may be old: no future check matters here */
        r = km_complaint_from_json(obj, conf, KM_CPL_STRICT, km_wall_s(), &c,
                                   reason, detail, sizeof(detail));
        json_decref(obj);
        if (r)
                return km_err_set(err, errlen, KM_EINPUT, "correction: %s",
                                  reason);
        km_route_complaint(dir, conf, c, &route);
        if (!ch->category && !ch->building_id)
                route.org = km_dir_triage(dir); /* not ours: back to triage */
        if (strcmp(route.org->id, ch->org_id) == 0) {
                km_complaint_destroy(c);
                return km_err_set(err, errlen, KM_EINPUT,
                                  "the correction routes the task back to "
                                  "%s (%s)",
                                  ch->org_id, route.reason);
        }
        payload = km_route_dispatch(&route, c, attempt + 1, why,
                                    ch->at ? ch->at : km_wall_s(), NULL, 0);
        km_id_random(id);
        snprintf(att, sizeof(att), "%d", attempt + 1);
        {
                const char *p[6] = {id,    route.org->id, payload,
                                    c->id, att,           ch->note};

                r = km_pg_exec(conn,
                               "INSERT INTO task_outbox (event_id, topic, "
                               "msg_key, payload, complaint_id, attempt, "
                               "org_id, event, note) VALUES ($1, 'dispatch', "
                               "$2::text, $3, $4, $5, $2::text, 'rerouted', "
                               "$6)",
                               6, p, NULL, err, errlen);
        }
        if (r == 0) {
                out->attempt = attempt + 1;
                snprintf(out->new_org, sizeof(out->new_org), "%s",
                         route.org->id);
                snprintf(out->reason, sizeof(out->reason), "%s", why);
        }
        free(payload);
        km_complaint_destroy(c);
        return r;
}

static int km_task_check(const struct km_task_change *ch, const char *status,
                         char *err, size_t errlen)
{
        /* a disputed resolution is open again */
        int open =
                strcmp(status, "open") == 0 || strcmp(status, "reopened") == 0;
        int ackd = strcmp(status, "acknowledged") == 0;
        int done = strcmp(status, "resolved") == 0;

        switch (ch->action) {
        case KM_TASK_ACK:
                if (!open)
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "task %s is %s: only an open task "
                                          "can be acknowledged",
                                          ch->complaint_id, status);
                return 0;
        case KM_TASK_REOPEN:
        case KM_TASK_CONFIRM:
                if (!done)
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "request %s is %s: only a "
                                          "resolution can be %s",
                                          ch->complaint_id, status,
                                          ch->action == KM_TASK_REOPEN
                                                  ? "disputed"
                                                  : "confirmed");
                return 0;
        case KM_TASK_COMMENT:
                return 0;
        case KM_TASK_HANDOVER: /* km_task_handover only */
                return km_err_set(err, errlen, KM_EINPUT,
                                  "a handover comes from the directory");
        case KM_TASK_RESOLVE:
        case KM_TASK_REJECT:
                if (!open && !ackd)
                        return km_err_set(err, errlen, KM_EINPUT,
                                          "task %s is %s: cannot be %s",
                                          ch->complaint_id, status,
                                          km_task_event_name(ch->action));
                return 0;
        }
        return km_err_set(err, errlen, KM_EINPUT, "unknown action");
}

static int km_task_validate(const struct km_task_change *ch, char *err,
                            size_t errlen)
{
        int resident =
                ch->action >= KM_TASK_REOPEN && ch->action <= KM_TASK_COMMENT;
        int max = resident ? KM_TASK_RESIDENT_NOTE_MAX : KM_TASK_NOTE_MAX;

        if (!km_id_valid(ch->complaint_id))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "not a complaint id (a lower-case UUID)");

        if ((ch->action == KM_TASK_RESOLVE || ch->action == KM_TASK_REJECT ||
             ch->action == KM_TASK_COMMENT) &&
            (ch->note == NULL || !*ch->note))
                return km_err_set(err, errlen, KM_EINPUT,
                                  ch->action == KM_TASK_RESOLVE
                                          ? "resolve needs a note"
                                  : ch->action == KM_TASK_REJECT
                                          ? "reject needs a reason"
                                          : "a comment needs a text");
        if (resident != (ch->org_id == NULL))
                return km_err_set(
                        err, errlen, KM_EFATAL, "%s: org_id must be %s",
                        km_task_event_name(ch->action),
                        resident ? "NULL (the resident's)" : "the staff's");
        if (ch->event_id && !km_id_valid(ch->event_id))
                return km_err_set(err, errlen, KM_EFATAL,
                                  "event_id is not an id");
        if (ch->incident_id && !km_id_valid(ch->incident_id))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "not an incident id (a lower-case UUID)");
        if (ch->note && (!km_utf8_valid(ch->note, strlen(ch->note), NULL) ||
                         km_utf8_chars(ch->note) > (size_t)max ||
                         km_utf8_has_ctrl(ch->note)))
                return km_err_set(err, errlen, KM_EINPUT,
                                  "note: valid UTF-8, at most %d characters",
                                  max);
        return 0;
}

/* The resident's change (org_id NULL): the task whoever holds it; reads
 * neither the complaint nor the contact (komek-gateway's grants). */
static int km_task_resident(PGconn *conn, const struct km_conf *conf,
                            const struct km_task_change *ch,
                            struct km_task_result *out, char *err,
                            size_t errlen)
{
        const char *p1[1] = {ch->complaint_id};
        const struct km_category *cat;
        char sla[24];
        PGresult *res = NULL;
        int r, attempt;

        if ((r = km_pg_begin(conn, err, errlen)))
                return r;
        /* the lock and the change through the SECURITY DEFINER functions
         * of deploy/sql/105_task_reopen.sql: the gateway's role may not
         * UPDATE tasks */
        r = km_pg_exec(conn,
                       "SELECT status, attempt, org_id, category, "
                       "resolved_age FROM task_resident_lock($1::uuid)",
                       1, p1, &res, err, errlen);
        if (r)
                goto fail;
        if (PQntuples(res) != 1) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "request %s has no task yet (not routed)",
                               ch->complaint_id);
                goto fail;
        }
        if ((r = km_task_check(ch, PQgetvalue(res, 0, 0), err, errlen)))
                goto fail;
        if (ch->action == KM_TASK_REOPEN &&
            atoll(PQgetvalue(res, 0, 4)) > ch->reopen_s) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "request %s was resolved more than %lld "
                               "days ago: too late to dispute",
                               ch->complaint_id,
                               (long long)(ch->reopen_s / 86400));
                goto fail;
        }
        attempt = atoi(PQgetvalue(res, 0, 1));
        snprintf(out->org, sizeof(out->org), "%s", PQgetvalue(res, 0, 2));
        cat = km_conf_category(conf, PQgetvalue(res, 0, 3));
        snprintf(sla, sizeof(sla), "%lld",
                 (long long)(cat ? cat->sla_hours : 72));
        {
                /* reopen: open again at the same organisation, the SLA
                 * clock restarted, the resolution's note kept in the
                 * history only; confirm: recorded; comment: checked only
                 * (the task exists) */
                char win[24];
                const char *p2[4] = {ch->complaint_id,
                                     km_task_event_name(ch->action), win, sla};
                PGresult *ok = NULL;

                snprintf(win, sizeof(win), "%lld", (long long)ch->reopen_s);
                r = km_pg_exec(conn,
                               "SELECT task_resident_change($1::uuid, $2, "
                               "$3::bigint, $4::int)",
                               4, p2, &ok, err, errlen);
                if (r == 0 && strcmp(PQgetvalue(ok, 0, 0), "t") != 0)
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "request %s: the database refused "
                                       "the change to %s",
                                       ch->complaint_id,
                                       km_task_event_name(ch->action));
                PQclear(ok);
                if (r)
                        goto fail;
        }
        if ((r = km_task_event(conn, ch, out->org, attempt, out, err, errlen)))
                goto fail;
        if ((r = km_pg_commit(conn, err, errlen)))
                goto fail;
        snprintf(out->status, sizeof(out->status), "%s",
                 ch->action == KM_TASK_REOPEN ? "reopened"
                                              : PQgetvalue(res, 0, 0));
        out->attempt = attempt;
        PQclear(res);
        return 0;
fail:
        km_pg_rollback(conn);
        PQclear(res);
        return r;
}

int km_task_apply(PGconn *conn, const struct km_conf *conf,
                  const struct km_dir *dir, const struct km_task_change *ch,
                  struct km_task_result *out, char *err, size_t errlen)
{
        const char *p1[2] = {ch->complaint_id, ch->org_id};
        PGresult *res = NULL;
        int r, attempt;

        memset(out, 0, sizeof(*out));
        if ((r = km_task_validate(ch, err, errlen)))
                return r;
        if (ch->action == KM_TASK_REJECT && dir == NULL)
                return km_err_set(err, errlen, KM_EFATAL,
                                  "reject needs the directory");
        if (ch->action >= KM_TASK_REOPEN && ch->action <= KM_TASK_COMMENT)
                return km_task_resident(conn, conf, ch, out, err, errlen);
        if ((r = km_pg_begin(conn, err, errlen)))
                return r;
        r = km_pg_exec(conn,
                       "SELECT status, attempt, complaint, since FROM "
                       "task_lock($1::uuid, $2)",
                       2, p1, &res, err, errlen);
        if (r)
                goto fail;
        if (PQntuples(res) != 1) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "no task %s in the inbox of %s",
                               ch->complaint_id, ch->org_id);
                goto fail;
        }
        if ((r = km_task_check(ch, PQgetvalue(res, 0, 0), err, errlen)))
                goto fail;
        if (ch->at && (ch->at < atoll(PQgetvalue(res, 0, 3)) ||
                       ch->at > km_wall_s() + 60)) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "task %s: a change at %lld is before the "
                               "complaint or its acknowledgement, or in the "
                               "future",
                               ch->complaint_id, (long long)ch->at);
                goto fail;
        }
        attempt = atoi(PQgetvalue(res, 0, 1));
        if (ch->action == KM_TASK_REJECT &&
            strcmp(ch->org_id, KM_DIR_TRIAGE) == 0 && !ch->category &&
            !ch->building_id) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "triage re-routes with a corrected category "
                               "or building");
                goto fail;
        }
        if (ch->action == KM_TASK_REJECT &&
            strcmp(ch->org_id, KM_DIR_TRIAGE) != 0 &&
            attempt >= KM_TASK_MAX_ATTEMPTS &&
            (ch->category || ch->building_id)) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "re-routed %d times: reject without a "
                               "correction, triage decides",
                               attempt);
                goto fail;
        }
        {
                /* the one legal transition, checked again by the database
                 * (097_task_functions.sql): staff roles cannot UPDATE tasks */
                char atbuf[24];
                const char *p2[5] = {ch->complaint_id, ch->org_id,
                                     km_task_event_name(ch->action),
                                     ch->at ? atbuf : NULL, ch->note};
                PGresult *ok = NULL;

                snprintf(atbuf, sizeof(atbuf), "%lld", (long long)ch->at);
                r = km_pg_exec(conn,
                               "SELECT task_change($1::uuid, $2, $3, "
                               "$4::bigint, $5)",
                               5, p2, &ok, err, errlen);
                if (r == 0 && strcmp(PQgetvalue(ok, 0, 0), "t") != 0)
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "task %s: the database refused the "
                                       "change to %s",
                                       ch->complaint_id,
                                       km_task_event_name(ch->action));
                PQclear(ok);
                if (r)
                        goto fail;
        }
        if ((r = km_task_event(conn, ch, ch->org_id, attempt, out, err,
                               errlen)))
                goto fail;
        if (ch->action == KM_TASK_REJECT &&
            (r = km_task_reroute(conn, conf, dir, ch, PQgetvalue(res, 0, 2),
                                 attempt, out, err, errlen)))
                goto fail;
        if ((r = km_pg_commit(conn, err, errlen)))
                goto fail;
        snprintf(out->status, sizeof(out->status), "%s",
                 km_task_event_name(ch->action));
        if (ch->action != KM_TASK_REJECT)
                out->attempt = attempt;
        PQclear(res);
        return 0;
fail:
        km_pg_rollback(conn);
        PQclear(res);
        return r;
}

int km_task_handover_lock(PGconn *conn, int exclusive, char *err, size_t errlen)
{
        return km_pg_exec(conn,
                          exclusive ? "SELECT pg_advisory_xact_lock(7305310002)"
                                    : "SELECT pg_advisory_xact_lock_shared("
                                      "7305310002)",
                          0, NULL, NULL, err, errlen);
}

int km_task_handover(PGconn *conn, const struct km_conf *conf,
                     const char *complaint_id, const char *from_org,
                     const struct km_dir_org *to, int64_t at,
                     struct km_task_result *out, char *err, size_t errlen)
{
        struct km_task_change ch = {.org_id = from_org,
                                    .complaint_id = complaint_id,
                                    .action = KM_TASK_HANDOVER,
                                    .at = at};
        struct km_complaint *c = NULL;
        struct km_dir_building b;
        struct km_route route;
        const char *p[2] = {complaint_id, from_org};
        char reason[KM_REASON_LEN], detail[256], id[KM_ID_LEN], att[16],
                note[96];
        PGresult *res = NULL;
        json_t *obj = NULL;
        char *payload = NULL;
        int r, attempt;

        memset(out, 0, sizeof(*out));
        /* the row stays locked until the caller's commit */
        r = km_pg_exec(conn,
                       "SELECT attempt, complaint::text, building_id, "
                       "district, extract(epoch FROM due_at)::bigint FROM "
                       "tasks WHERE complaint_id = $1::uuid AND org_id = $2 "
                       "AND status IN ('open', 'acknowledged', 'reopened') "
                       "FOR UPDATE",
                       2, p, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) != 1) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "task %s is not open at %s", complaint_id,
                               from_org);
                goto cleanup;
        }
        attempt = atoi(PQgetvalue(res, 0, 0));
        if ((obj = json_loads(PQgetvalue(res, 0, 1), 0, NULL)) == NULL) {
                r = km_err_set(err, errlen, KM_EFATAL,
                               "stored complaint is not JSON");
                goto cleanup;
        }
        r = km_complaint_from_json(obj, conf, KM_CPL_STRICT, km_wall_s(), &c,
                                   reason, detail, sizeof(detail));
        if (r) {
                r = km_err_set(err, errlen, KM_EFATAL, "stored complaint: %s",
                               reason);
                goto cleanup;
        }
        memset(&b, 0, sizeof(b));
        memset(&route, 0, sizeof(route));
        b.id = PQgetvalue(res, 0, 2);
        route.org = to;
        route.building = PQgetisnull(res, 0, 2) ? NULL : &b;
        route.district = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
        route.reason = "rerouted:handover";
        route.due_at = strtoll(PQgetvalue(res, 0, 4), NULL, 10); /* kept */
        snprintf(note, sizeof(note), "to %s", to->id);
        ch.note = note;
        if ((r = km_task_event(conn, &ch, from_org, attempt, out, err, errlen)))
                goto cleanup;
        payload = km_route_dispatch(&route, c, attempt + 1, NULL,
                                    at ? at : km_wall_s(), NULL, 0);
        km_id_random(id);
        snprintf(att, sizeof(att), "%d", attempt + 1);
        {
                const char *q[6] = {id,    to->id, payload,
                                    c->id, att,    "handover"};

                r = km_pg_exec(conn,
                               "INSERT INTO task_outbox (event_id, topic, "
                               "msg_key, payload, complaint_id, attempt, "
                               "org_id, event, note) VALUES ($1, 'dispatch', "
                               "$2::text, $3, $4, $5, $2::text, 'rerouted', "
                               "$6)",
                               6, q, NULL, err, errlen);
        }
        if (r)
                goto cleanup;
        out->attempt = attempt + 1;
        snprintf(out->status, sizeof(out->status), "handed_over");
        snprintf(out->new_org, sizeof(out->new_org), "%s", to->id);
        snprintf(out->reason, sizeof(out->reason), "rerouted:handover");
        snprintf(out->org, sizeof(out->org), "%s", from_org);
cleanup:
        free(payload);
        km_complaint_destroy(c);
        json_decref(obj);
        PQclear(res);
        return r;
}
