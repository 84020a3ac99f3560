/*
 * gateway_update.c - the Open311 updates extension: GET
 * /servicerequestupdates (the state changes, for FixMyStreet's
 * Open311::GetServiceRequestUpdates; below) and POST
 * /servicerequestupdates: a resident's update on
 * a request this gateway accepted, as FixMyStreet's
 * Open311::post_service_request_update sends it (form fields api_key,
 * service_request_id, update_id, updated_datetime, status, description,
 * first_name, last_name, email, phone, media_url; docs/open311.md).
 *
 * What the status means (FixMyStreet's extended set, or OPEN/CLOSED):
 *   REOPEN, or OPEN on a resolved request    a dispute: the task is
 *       reopened at the same organisation (within gateway.reopen_days of
 *       the resolution, else 400), first in the inboxes, SLA restarted;
 *   FIXED or CLOSED on a resolved request    a confirmation (recorded);
 *   anything else                            a comment (description
 *       required): the task's history and both inboxes.
 * Each is km_task_apply (common/km_task.c), the one path of task state
 * changes: one transaction, one task_outbox row, published here right
 * after (komek-tasksink relays it if that fails).  The answer is the
 * update id (the task-events event_id); a client's update_id makes it
 * deterministic (km_id_derive(source, "update:" request ":" update_id)),
 * so a retried POST answers the same id and records nothing twice.
 *
 * SECURITY: the body is untrusted, as in gateway_post.c.  Only requests
 * of the key's own source can be updated (another's is 404).  The
 * resident's name, e-mail and phone are accepted and dropped: never
 * stored, never logged (the task already holds the contact the request
 * carried); the description is the resident's text and goes only into
 * the task's history (task_outbox.note), shown to the organisation's
 * staff and to read_private keys, never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway.h"
#include "km_id.h"
#include "km_log.h"
#include "km_outbox.h"
#include "km_pg.h"
#include "km_task.h"
#include "km_util.h"

static const char *const gateway_update_known[] = {
        "api_key",
        "jurisdiction_id",
        "service_request_id",
        "service_request_id_ext",
        "update_id",
        "update_id_ext",
        "updated_datetime",
        "status",
        "description",
        "first_name",
        "last_name",
        "email",
        "phone",
        "media_url",
        "account_id",
        "public_anonymity_required",
        "email_alerts_requested",
        "title",
        NULL,
};

/* FixMyStreet's statuses (Open311.pm, extended_statuses on or off). */
static const char *const gateway_update_statuses[] = {
        "OPEN",
        "CLOSED",
        "FIXED",
        "IN_PROGRESS",
        "ACTION_SCHEDULED",
        "INVESTIGATING",
        "DUPLICATE",
        "NOT_COUNCILS_RESPONSIBILITY",
        "NO_FURTHER_ACTION",
        "INTERNAL_REFERRAL",
        "FOR_TRIAGE",
        "REOPEN",
        NULL,
};

/* The note: the description and the photo's URL on its own line. */
static char *gateway_update_note(json_t *f)
{
        const char *d = gateway_str(f, "description"), *m;
        char *note, *w;

        m = gateway_str(f, "media_url");
        if (m == NULL)
                m = json_string_value(
                        json_array_get(json_object_get(f, "media_url"), 0));
        if (d == NULL && m == NULL)
                return NULL;
        note = km_xasprintf("%s%s%s", d ? d : "", d && m ? "\n" : "",
                            m ? m : "");
        /* CR LF as LF, a lone CR as LF, a tab as a space: the history
         * takes no other control character */
        for (w = note; *w; w++) {
                if (w[0] == '\r' && w[1] == '\n')
                        memmove(w, w + 1, strlen(w)); /* drops the CR */
                if (*w == '\r')
                        *w = '\n';
                if (*w == '\t')
                        *w = ' ';
        }
        return note;
}

/* Fields refused or accepted: @returns 0 or KM_EINPUT with rep set. */
static int gateway_update_check(json_t *f, struct gateway_reply *rep)
{
        const char *key, *st = gateway_str(f, "status");
        json_t *v;
        int64_t t;

        json_object_foreach (f, key, v) {
                int known = 0;

                for (int i = 0; gateway_update_known[i] && !known; i++)
                        known = strcmp(key, gateway_update_known[i]) == 0;
                if (!known) {
                        gateway_error(rep, 400,
                                      "%.40s: unknown_field (not a field of "
                                      "a service request update)",
                                      key);
                        return KM_EINPUT;
                }
        }
        if (!km_id_valid(gateway_str(f, "service_request_id")
                                 ? gateway_str(f, "service_request_id")
                                 : "")) {
                gateway_error(rep, 404, "no service request with this id");
                return KM_EINPUT;
        }
        if (st) {
                int ok = 0;

                for (int i = 0; gateway_update_statuses[i] && !ok; i++)
                        ok = strcasecmp(st, gateway_update_statuses[i]) == 0;
                if (!ok) {
                        gateway_error(rep, 400,
                                      "status: invalid_field (OPEN, CLOSED, "
                                      "FIXED, REOPEN or another of the "
                                      "extended statuses)");
                        return KM_EINPUT;
                }
        }
        if (gateway_str(f, "updated_datetime") &&
            km_parse_rfc3339(gateway_str(f, "updated_datetime"), &t)) {
                gateway_error(rep, 400,
                              "updated_datetime: invalid_field (not "
                              "an RFC 3339 time)");
                return KM_EINPUT;
        }
        if (gateway_str(f, "update_id") &&
            strlen(gateway_str(f, "update_id")) > 200) {
                gateway_error(rep, 400,
                              "update_id: invalid_field (at most "
                              "200 bytes)");
                return KM_EINPUT;
        }
        return 0;
}

/* What the update does, from its status and the task's (NULL: no task). */
static enum km_task_action gateway_update_action(const char *st,
                                                 const char *task)
{
        int resolved = task && strcmp(task, "resolved") == 0;

        if (st && !strcasecmp(st, "REOPEN"))
                return KM_TASK_REOPEN;
        if (st && resolved && !strcasecmp(st, "OPEN"))
                return KM_TASK_REOPEN;
        if (st && resolved &&
            (!strcasecmp(st, "FIXED") || !strcasecmp(st, "CLOSED")))
                return KM_TASK_CONFIRM;
        return KM_TASK_COMMENT;
}

/* The request (of this source) and its task's status, on slot's
 * connection.  @returns 0, KM_EINPUT (no such request) or an error. */
static int gateway_update_lookup(PGconn *conn, const char *id,
                                 const char *source, char *status, size_t slen,
                                 char *err, size_t errlen)
{
        const char *p[2] = {id, source};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT (SELECT t.status FROM tasks t WHERE "
                       "t.complaint_id = g.id) FROM gateway_requests g "
                       "WHERE g.id = $1::uuid AND g.source = $2 AND "
                       "g.published_at IS NOT NULL",
                       2, p, &res, err, errlen);
        if (r)
                return r;
        if (PQntuples(res) != 1) {
                PQclear(res);
                return KM_EINPUT;
        }
        snprintf(status, slen, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return 0;
}

/* @returns 1 if the outbox holds event_id (a retried POST). */
static int gateway_update_seen(PGconn *conn, const char *event_id, int *seen,
                               char *err, size_t errlen)
{
        const char *p[1] = {event_id};
        PGresult *res = NULL;
        int r;

        r = km_pg_exec(conn,
                       "SELECT 1 FROM task_outbox WHERE event_id = $1::uuid", 1,
                       p, &res, err, errlen);
        if (r == 0)
                *seen = PQntuples(res) > 0;
        PQclear(res);
        return r;
}

static void gateway_update_reply(struct gateway_reply *rep,
                                 const char *event_id)
{
        json_t *item = json_object();

        json_object_set_new(item, "update_id", json_string(event_id));
        json_decref(rep->body);
        rep->body = json_array();
        json_array_append_new(rep->body, item);
        rep->status = 201;
        rep->root = "service_request_updates";
        rep->item = "request_update";
}

/* Apply the update on slot's connection and publish its outbox row. */
static void gateway_update_apply(struct gateway *gw, struct km_pgslot *slot,
                                 json_t *f, const char *source,
                                 struct gateway_reply *rep)
{
        const char *id = gateway_str(f, "service_request_id");
        const char *uid = gateway_str(f, "update_id");
        char status[24], err[512], err2[256], eid[KM_ID_LEN];
        struct km_task_change ch;
        struct km_task_result out;
        char *note = NULL, *ext = NULL;
        int r, seen = 0, n = 0;

        if (uid == NULL)
                uid = gateway_str(f, "update_id_ext");
        r = gateway_update_lookup(slot->conn, id, source, status,
                                  sizeof(status), err, sizeof(err));
        if (r == KM_EINPUT) {
                gateway_error(rep, 404, "no service request with this id");
                return;
        }
        if (r == 0 && uid) {
                ext = km_xasprintf("update:%s:%s", id, uid);
                km_id_derive(source, ext, eid);
                r = gateway_update_seen(slot->conn, eid, &seen, err,
                                        sizeof(err));
        }
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("update of %s: %s", id, err);
                gateway_error(rep, 503, "database unavailable, try again");
                goto cleanup;
        }
        if (seen) { /* a retry: the same update, nothing new */
                gateway_update_reply(rep, eid);
                goto cleanup;
        }
        note = gateway_update_note(f);
        memset(&ch, 0, sizeof(ch));
        ch.complaint_id = id;
        ch.action = gateway_update_action(gateway_str(f, "status"),
                                          *status ? status : NULL);
        ch.note = note;
        ch.event_id = uid ? eid : NULL;
        ch.reopen_s = gw->gc->reopen_days * 86400;
        if (ch.action == KM_TASK_COMMENT && note == NULL) {
                gateway_error(rep, 400,
                              "description: missing_field (a "
                              "comment needs a text)");
                goto cleanup;
        }
        r = km_task_apply(slot->conn, gw->conf, NULL, &ch, &out, err,
                          sizeof(err));
        /* the same update_id racing in: the other one recorded it */
        if (r == KM_EINPUT && uid &&
            gateway_update_seen(slot->conn, eid, &seen, err2, sizeof(err2)) ==
                    0 &&
            seen) {
                gateway_update_reply(rep, eid);
                goto cleanup;
        }
        if (r == KM_EINPUT) {
                /* err names ids and states only, never the text */
                gateway_error(rep, 400, "%s", err);
                goto cleanup;
        }
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("update of %s: %s", id, err);
                gateway_error(rep, 503,
                              "could not record the update, try "
                              "again");
                goto cleanup;
        }
        km_log_info("request %s: %s by the resident (update %s, task at "
                    "%s)",
                    id, km_task_event_name(ch.action), out.event_id, out.org);
        pthread_mutex_lock(&gw->outbox_lock);
        r = km_outbox_publish(slot->conn, gw->outbox_rk, &gw->outbox_counts,
                              gw->conf, id, 0, 100, &n, err, sizeof(err));
        pthread_mutex_unlock(&gw->outbox_lock);
        if (r)
                km_log_warn("update %s not published yet: %s (komek-tasksink "
                            "relays it)",
                            out.event_id, err);
        gateway_update_reply(rep, out.event_id);
cleanup:
        free(note);
        free(ext);
}

void gateway_update_post(struct gateway *gw, const char *ctype,
                         const char *body, size_t len, const char *query_key,
                         struct gateway_reply *rep)
{
        struct km_pgslot *slot;
        struct gateway_caller who;
        char err[512];
        json_t *f;

        f = gateway_post_admit(gw, ctype, body, len, query_key,
                               gateway_update_check, &who, rep);
        if (f == NULL)
                return;
        slot = gateway_pg_get(gw, err, sizeof(err));
        if (slot == NULL) {
                km_log_error("database: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
        } else {
                gateway_update_apply(gw, slot, f, who.source, rep);
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
        }
        json_decref(f);
}

/* The Open311 updates extension, read side, as FixMyStreet's
 * Open311::GetServiceRequestUpdates asks: what happened to the requests
 * posted here between start_date and end_date (default: the last 24 hours,
 * at most 90 days), oldest first, from the tasks' state changes
 * (task_outbox, where every task-events message starts).  Statuses on
 * FixMyStreet's extended set: acknowledged IN_PROGRESS, resolved FIXED,
 * rejected (re-routed) FOR_TRIAGE, reopened (a resident's dispute,
 * POST /servicerequestupdates) REOPEN; external_status_code is komek's
 * event.
 * The description is the staff's note: only for a read_private key, as
 * status_notes on GET /requests; everyone sees that an acknowledgement
 * was "accepted" ("Принято в работу") and a rejection re-routed (with the
 * reason for a read_private key). */
static const char gateway_sql_updates[] =
        "WITH u AS (SELECT o.event_id, o.complaint_id, o.event, o.note, "
        "coalesce((o.payload::jsonb->>'at')::timestamptz, o.created_at) AS at, "
        "o.created_at "
        "FROM task_outbox o JOIN gateway_requests g ON g.id = o.complaint_id "
        "WHERE o.topic = 'task_events' AND g.published_at IS NOT NULL "
        /* state changes; the resident's own comments and confirmations
         * came from the integration and are not sent back */
        "AND o.event IN ('acknowledged', 'resolved', 'rejected', "
        "'reopened')) "
        "SELECT event_id, complaint_id, event, " GW_TS("at") ", " GW_UPDATE_DESC(
                "$4", "$5",
                "$6") " FROM u "
                      "WHERE at >= $1::timestamptz AND at <= $2::timestamptz "
                      /* at has whole seconds: changes within one second keep the
         * order they were made in */
                      "ORDER BY at, created_at, event_id LIMIT $3::int";

const char *gateway_update_status(const char *event)
{
        if (!strcmp(event, "acknowledged"))
                return "IN_PROGRESS";
        if (!strcmp(event, "resolved"))
                return "FIXED";
        if (!strcmp(event, "rejected"))
                return "FOR_TRIAGE";
        if (!strcmp(event, "reopened"))
                return "REOPEN";
        return "OPEN";
}

/* q: start_date, end_date. */
void gateway_updates(struct gateway *gw, const char *const *q,
                     const char *api_key, struct gateway_reply *rep)
{
        char start[24], end[24], limit[24], err[512];
        const char *p[6] = {start,
                            end,
                            limit,
                            NULL,
                            gateway_note_ack(gw),
                            gateway_note_reroute(gw)};
        int64_t t[2] = {km_wall_s() - 86400, km_wall_s()};
        struct km_pgslot *slot;
        PGresult *res = NULL;
        int r, priv = 0;

        for (int i = 0; i < 2; i++)
                if (q[i] && *q[i] && km_parse_rfc3339(q[i], &t[i])) {
                        gateway_error(rep, 400,
                                      "%s: invalid_field (not an RFC 3339 "
                                      "time)",
                                      i ? "end_date" : "start_date");
                        return;
                }
        if (q[0] && *q[0] && !(q[1] && *q[1]))
                t[1] = t[0] + 90 * 86400;
        if (t[1] < t[0] || t[1] - t[0] > 90 * 86400) {
                gateway_error(rep, 400,
                              "end_date: invalid_field (a window "
                              "of at most 90 days after "
                              "start_date)");
                return;
        }
        km_fmt_rfc3339(t[0], start, sizeof(start));
        km_fmt_rfc3339(t[1], end, sizeof(end));
        snprintf(limit, sizeof(limit), "%lld", (long long)gw->gc->max_results);
        slot = gateway_pg_get_read(gw, err, sizeof(err));
        if (slot == NULL) {
                km_log_error("database: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return;
        }
        if (gateway_get_key(gw, slot, api_key, &priv, rep)) {
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
                return;
        }
        p[3] = priv ? "true" : "false";
        r = km_pg_exec(slot->conn, gateway_sql_updates, 6, p, &res, err,
                       sizeof(err));
        km_pgpool_put(slot, r && PQstatus(slot->conn) != CONNECTION_OK);
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("updates query: %s", err);
                gateway_error(rep, r == KM_ERETRY ? 503 : 500,
                              "could not read updates");
                return;
        }
        rep->body = json_array();
        for (int i = 0; i < PQntuples(res); i++) {
                json_t *o = json_object();

                gateway_set_opt(o, "update_id", res, i, 0);
                gateway_set_opt(o, "service_request_id", res, i, 1);
                json_object_set_new(o, "status",
                                    json_string(gateway_update_status(
                                            PQgetvalue(res, i, 2))));
                gateway_set_opt(o, "updated_datetime", res, i, 3);
                json_object_set_new(
                        o, "description",
                        json_string(PQgetisnull(res, i, 4)
                                            ? ""
                                            : PQgetvalue(res, i, 4)));
                gateway_set_opt(o, "external_status_code", res, i, 2);
                json_object_set_new(o, "media_url", json_string(""));
                json_array_append_new(rep->body, o);
        }
        PQclear(res);
        rep->status = 200;
        rep->root = "service_request_updates";
        rep->item = "request_update";
}
