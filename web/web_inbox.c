/*
 * web_inbox.c - the staff pages: the organisation's open tasks (those a
 * resident disputed first, then by due time, overdue marked) and the
 * notifications komek-notify could not deliver to it, one task
 * with the resident's contact (the staff call back) and its history (the
 * resident's comments and disputes too), and the three changes.
 *
 * SECURITY: the organisation is always the session's, never a form's or
 * URL's: a task of another organisation is "not found" (404) whether it
 * exists or not, and km_task_apply itself refuses a change to a task the
 * organisation does not hold.  Descriptions, addresses, contacts and
 * notes are residents' and staff's text: always HTML-escaped, never
 * logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_http.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_task.h"
#include "web.h"

static PGconn *web_staff_conn(struct web_ctx *c)
{
        char err[256];
        PGconn *conn = web_pg_get(&c->w->staff, err, sizeof(err));

        if (conn == NULL) {
                km_log_warn("%s: %s", c->path, err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
        }
        return conn;
}

static void web_flash(struct web_ctx *c)
{
        const char *ev = web_arg(c, "done");
        enum web_msg m = M_COUNT;

        if (ev == NULL)
                return;
        if (!strcmp(ev, "acknowledged"))
                m = M_DONE_ACK;
        else if (!strcmp(ev, "resolved"))
                m = M_DONE_RESOLVE;
        else if (!strcmp(ev, "rejected"))
                m = M_DONE_REJECT;
        if (m != M_COUNT)
                web_buf_printf(&c->out,
                               "<div class=\"msg ok\" id=\"done\">%s"
                               "</div>",
                               web_t(c, m));
}

/* The organisation's given-up notifications (web_undelivered(), a
 * SECURITY DEFINER function of 111_notify_task_events.sql: the web's role
 * reads no other organisation's).  Nothing when there are none. */
static void web_inbox_undelivered(struct web_ctx *c, PGconn *conn)
{
        static const enum web_msg head[] = {M_WHEN,      M_KIND,   M_TASK,
                                            M_CHANNEL,   M_TARGET, M_TRIES,
                                            M_LAST_ERROR};
        char utc[8], err[256];
        const char *p[2] = {c->s.org, utc};
        struct web_buf *b = &c->out;
        PGresult *res = NULL;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        if (km_pg_exec(conn,
                       "SELECT to_char(created_at AT TIME ZONE 'UTC' + "
                       "make_interval(hours => $2::int), 'YYYY-MM-DD "
                       "HH24:MI'), kind, complaint_id, channel, target, "
                       "tries, coalesce(last_error, '') FROM "
                       "web_undelivered($1, 20)",
                       2, p, &res, err, sizeof(err))) {
                km_log_warn("inbox: undelivered: %s", err);
                return;
        }
        if (PQntuples(res) > 0) {
                web_buf_printf(b,
                               "<h2>%s</h2><p class=\"muted\">%s</p>"
                               "<table id=\"undelivered\"><thead><tr>",
                               web_t(c, M_UNDELIVERED),
                               web_t(c, M_UNDELIVERED_HINT));
                for (size_t j = 0; j < sizeof(head) / sizeof(head[0]); j++)
                        web_buf_printf(b, "<th>%s</th>", web_t(c, head[j]));
                web_buf_puts(b, "</tr></thead><tbody>");
        }
        for (int i = 0; i < PQntuples(res); i++) {
                web_buf_printf(b, "<tr data-task=\"%s\"><td>%s</td><td>",
                               PQgetvalue(res, i, 2), PQgetvalue(res, i, 0));
                web_buf_esc(b, web_status_name(c, PQgetvalue(res, i, 1)));
                web_buf_printf(b,
                               "</td><td><a href=\"/tasks/%s\">%.8s</a>"
                               "</td><td>",
                               PQgetvalue(res, i, 2), PQgetvalue(res, i, 2));
                web_buf_esc(b, PQgetvalue(res, i, 3));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 4));
                web_buf_printf(b, "</td><td>%s</td><td>",
                               PQgetvalue(res, i, 5));
                web_buf_esc_n(b, PQgetvalue(res, i, 6), 200);
                web_buf_puts(b, "</td></tr>");
        }
        if (PQntuples(res) > 0)
                web_buf_puts(b, "</tbody></table>");
        PQclear(res);
}

/* Tasks the organisation handed over when a building changed hands
 * (issue 17: komek-directory import), the last 30 days, newest first; no
 * link: the task is the new organisation's now. */
static void web_inbox_handed_over(struct web_ctx *c, PGconn *conn)
{
        char utc[8], err[256];
        const char *p[2] = {c->s.org, utc};
        struct web_buf *b = &c->out;
        PGresult *res = NULL;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        if (km_pg_exec(conn,
                       "SELECT complaint_id, to_char(created_at AT TIME ZONE "
                       "'UTC' + make_interval(hours => $2::int), "
                       "'YYYY-MM-DD HH24:MI'), coalesce(note, '') FROM "
                       "task_outbox WHERE org_id = $1 AND event = "
                       "'handed_over' AND created_at > now() - interval "
                       "'30 days' ORDER BY created_at DESC, complaint_id "
                       "LIMIT 50",
                       2, p, &res, err, sizeof(err))) {
                km_log_warn("inbox: handed over: %s", err);
                return;
        }
        if (PQntuples(res) > 0)
                web_buf_printf(b,
                               "<h2>%s</h2><p class=\"muted\">%s</p>"
                               "<table id=\"handed-over\"><thead><tr>"
                               "<th>%s</th><th>%s</th><th>%s</th></tr>"
                               "</thead><tbody>",
                               web_t(c, M_HANDED_OVER),
                               web_t(c, M_HANDED_OVER_HINT), web_t(c, M_WHEN),
                               web_t(c, M_TASK), web_t(c, M_HANDOVER_NOTE));
        for (int i = 0; i < PQntuples(res); i++) {
                web_buf_printf(b,
                               "<tr data-task=\"%s\"><td>%s</td>"
                               "<td>%.8s</td><td>",
                               PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                               PQgetvalue(res, i, 0));
                web_buf_esc_n(b, PQgetvalue(res, i, 2), 200);
                web_buf_puts(b, "</td></tr>");
        }
        if (PQntuples(res) > 0)
                web_buf_puts(b, "</tbody></table>");
        PQclear(res);
}

/* The page's open tasks, a table row each (or "no tasks"). */
static void web_inbox_rows(struct web_ctx *c, PGresult *res)
{
        struct web_buf *b = &c->out;

        if (PQntuples(res) == 0) {
                web_buf_printf(b, "<p id=\"empty\">%s</p>",
                               web_t(c, M_NO_TASKS));
        } else {
                web_buf_printf(b,
                               "<table id=\"tasks\"><thead><tr><th>%s</th>"
                               "<th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                               "</tr></thead><tbody>",
                               web_t(c, M_DUE), web_t(c, M_CATEGORY),
                               web_t(c, M_ADDRESS), web_t(c, M_DESCRIPTION),
                               web_t(c, M_STATUS));
        }
        for (int i = 0; i < PQntuples(res); i++) {
                int late = PQgetvalue(res, i, 5)[0] == 't';

                web_buf_printf(b, "<tr%s data-id=\"%s\"><td>",
                               late ? " class=\"overdue\"" : "",
                               PQgetvalue(res, i, 0));
                if (late)
                        web_buf_printf(b,
                                       "<span class=\"badge overdue\">%s"
                                       "</span> ",
                                       web_t(c, M_OVERDUE));
                web_buf_printf(b, "%s</td><td>", PQgetvalue(res, i, 4));
                web_buf_esc(b, web_category_name(c, PQgetvalue(res, i, 1)));
                if (PQgetvalue(res, i, 7)[0] == 't')
                        web_buf_printf(b,
                                       " <span class=\"badge emergency\">%s"
                                       "</span>",
                                       web_t(c, M_EMERGENCY));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 2));
                web_buf_printf(b, "</td><td><a href=\"/tasks/%s\">",
                               PQgetvalue(res, i, 0));
                web_buf_esc_n(b, PQgetvalue(res, i, 6), 100);
                web_buf_printf(b, "</a></td><td>%s</td></tr>",
                               web_status_name(c, PQgetvalue(res, i, 3)));
        }
        if (PQntuples(res))
                web_buf_puts(b, "</tbody></table>");
}

/* "page N / M" with the previous and next links, past one page. */
static void web_inbox_pager(struct web_ctx *c, long page, long total)
{
        const struct web_conf *wc = c->w->wc;
        struct web_buf *b = &c->out;

        if (total > wc->page_size) {
                web_buf_printf(b, "<nav class=\"pages\">%s %ld / %lld ",
                               web_t(c, M_PAGE), page,
                               (long long)((total + wc->page_size - 1) /
                                           wc->page_size));
                if (page > 1)
                        web_buf_printf(b, "<a href=\"/inbox?page=%ld\">%s</a>",
                                       page - 1, web_t(c, M_PREV));
                if (page * wc->page_size < total)
                        web_buf_printf(b,
                                       "<a href=\"/inbox?page=%ld\" "
                                       "id=\"next\">%s</a>",
                                       page + 1, web_t(c, M_NEXT));
                web_buf_puts(b, "</nav>");
        }
}

void web_inbox(struct web_ctx *c)
{
        const struct web_conf *wc = c->w->wc;
        const char *pg = web_arg(c, "page");
        long page = pg ? strtol(pg, NULL, 10) : 1;
        char off[24], lim[24], utc[8], err[256];
        const char *p[4] = {c->s.org, utc, lim, off};
        struct web_buf *b = &c->out;
        PGresult *res = NULL, *cnt = NULL;
        PGconn *conn;
        long total = 0, overdue = 0, undelivered = 0, handed = 0;

        if (page < 1 || page > 100000)
                page = 1;
        snprintf(utc, sizeof(utc), "%lld", (long long)wc->utc_offset_hours);
        snprintf(lim, sizeof(lim), "%lld", (long long)wc->page_size);
        snprintf(off, sizeof(off), "%lld",
                 (long long)((page - 1) * wc->page_size));
        if ((conn = web_staff_conn(c)) == NULL)
                return;
        /* one round trip: the page and, by window, the counts (and whether
         * the organisation has undelivered notifications) */
        if (web_pg_prepared(
                    conn, "web_inbox",
                    "SELECT complaint_id, category, coalesce(address, ''), "
                    "status, to_char(due_at AT TIME ZONE 'UTC' + "
                    "make_interval(hours => $2::int), 'YYYY-MM-DD "
                    "HH24:MI'), due_at < now(), left(description, 160), "
                    "coalesce(complaint->>'emergency', 'false') = 'true', "
                    "count(*) OVER (), count(*) FILTER (WHERE due_at < "
                    "now()) OVER (), (SELECT count(*) FROM "
                    "web_undelivered($1, 1)), (SELECT count(*) FROM "
                    "task_outbox WHERE org_id = $1 AND event = "
                    "'handed_over' AND created_at > now() - interval "
                    "'30 days') FROM tasks WHERE org_id = $1 "
                    "AND status IN ('open', 'acknowledged', 'reopened') "
                    "ORDER BY status = 'reopened' DESC, due_at, "
                    "complaint_id LIMIT $3::int OFFSET $4::int",
                    4, p, &res, err, sizeof(err)) ||
            (PQntuples(res) == 0 && /* past the end: the counts alone */
             km_pg_exec(conn,
                        "SELECT count(*), count(*) FILTER (WHERE due_at < "
                        "now()), (SELECT count(*) FROM web_undelivered($1, "
                        "1)), (SELECT count(*) FROM task_outbox WHERE "
                        "org_id = $1 AND event = 'handed_over' AND "
                        "created_at > now() - interval '30 days') FROM "
                        "tasks WHERE org_id = $1 AND status IN "
                        "('open', 'acknowledged', 'reopened')",
                        1, p, &cnt, err, sizeof(err)))) {
                km_log_warn("inbox: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        total = atol(cnt ? PQgetvalue(cnt, 0, 0) : PQgetvalue(res, 0, 8));
        overdue = atol(cnt ? PQgetvalue(cnt, 0, 1) : PQgetvalue(res, 0, 9));
        undelivered =
                atol(cnt ? PQgetvalue(cnt, 0, 2) : PQgetvalue(res, 0, 10));
        handed = atol(cnt ? PQgetvalue(cnt, 0, 3) : PQgetvalue(res, 0, 11));
        web_page_begin(c, web_t(c, M_INBOX));
        web_flash(c);
        web_buf_printf(b,
                       "<h1>%s: <span id=\"open-count\">%ld</span></h1>"
                       "<p>%s: <span class=\"badge overdue\" "
                       "id=\"overdue-count\">%ld</span> <span class=\"muted\">",
                       web_t(c, M_OPEN_TASKS), total, web_t(c, M_OVERDUE),
                       overdue);
        web_buf_printf(b, web_t(c, M_TIMES_LOCAL), (int)wc->utc_offset_hours);
        web_buf_puts(b, "</span></p>");
        web_inbox_incidents(c, conn); /* open incidents first */
        web_inbox_rows(c, res);
        web_inbox_pager(c, page, total);
        if (page == 1 && undelivered > 0) /* rare: a second round trip */
                web_inbox_undelivered(c, conn);
        if (page == 1 && handed > 0) /* rarer: after a directory change */
                web_inbox_handed_over(c, conn);
        web_page_end(c);
cleanup:
        PQclear(res);
        PQclear(cnt);
        km_pgpool_put_conn(&c->w->staff, conn);
}

static void web_task_forms(struct web_ctx *c, const char *id,
                           const char *status)
{
        struct web_buf *b = &c->out;
        /* reopened: a resident disputed the resolution */
        int open = !strcmp(status, "open") || !strcmp(status, "reopened");

        if (!open && strcmp(status, "acknowledged"))
                return;
        web_buf_puts(b, "<div class=\"actions\">");
        if (open) {
                web_buf_printf(b,
                               "<form class=\"box\" method=\"post\" "
                               "action=\"/tasks/%s/ack\" id=\"ack\">",
                               id);
                web_csrf_field(c);
                web_buf_printf(b,
                               "<button class=\"primary\" type=\"submit\">"
                               "%s</button></form>",
                               web_t(c, M_ACK));
        }
        web_buf_printf(b,
                       "<form class=\"box\" method=\"post\" "
                       "action=\"/tasks/%s/resolve\" id=\"resolve\">",
                       id);
        web_csrf_field(c);
        web_buf_printf(b,
                       "<label for=\"note\">%s <span class=\"muted\">(%s)"
                       "</span></label><textarea id=\"note\" name=\"note\" "
                       "maxlength=\"1000\" required></textarea>"
                       "<button class=\"primary\" type=\"submit\">%s</button>"
                       "</form>",
                       web_t(c, M_NOTE), web_t(c, M_NOTE_HINT),
                       web_t(c, M_RESOLVE));
        web_buf_printf(b,
                       "<form class=\"box\" method=\"post\" "
                       "action=\"/tasks/%s/reject\" id=\"reject\">",
                       id);
        web_csrf_field(c);
        web_buf_printf(b,
                       "<label for=\"reason\">%s</label><textarea "
                       "id=\"reason\" name=\"reason\" maxlength=\"1000\" "
                       "required></textarea><label for=\"category\">%s"
                       "</label><select id=\"category\" name=\"category\">"
                       "<option value=\"\">%s</option>",
                       web_t(c, M_REASON), web_t(c, M_CORRECT_CATEGORY),
                       web_t(c, M_NONE));
        for (size_t i = 0; i < c->w->conf->ncategories; i++) {
                const struct km_category *cat = &c->w->conf->categories[i];

                web_buf_puts(b, "<option value=\"");
                web_buf_esc(b, cat->code);
                web_buf_puts(b, "\">");
                web_buf_esc(b, c->lang[0] == 'r' ? cat->ru : cat->en);
                web_buf_puts(b, "</option>");
        }
        web_buf_printf(b,
                       "</select><label for=\"building\">%s</label>"
                       "<input type=\"text\" id=\"building\" "
                       "name=\"building\" maxlength=\"64\">"
                       "<button class=\"primary\" type=\"submit\">%s"
                       "</button></form></div>",
                       web_t(c, M_CORRECT_BUILDING), web_t(c, M_REJECT));
}

static void web_task_history(struct web_ctx *c, PGconn *conn, const char *id)
{
        const char *p[3] = {id, NULL, web_t(c, M_RESIDENT)};
        char utc[8], err[256];
        struct web_buf *b = &c->out;
        PGresult *res = NULL;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        p[1] = utc;
        if (km_pg_exec(conn,
                       "SELECT to_char(at AT TIME ZONE 'UTC' + "
                       "make_interval(hours => $2::int), 'YYYY-MM-DD "
                       "HH24:MI'), kind, who, detail, note FROM (SELECT "
                       "routed_at AS at, 'routed' AS kind, org_id AS who, "
                       "attempt || ' ' || route_reason AS detail, NULL AS "
                       "note FROM task_attempts WHERE complaint_id = "
                       "$1::uuid UNION ALL SELECT created_at, event, CASE "
                       "WHEN event IN ('reopened', 'confirmed', "
                       "'commented') THEN $3 ELSE org_id END, "
                       "attempt::text, note FROM task_outbox WHERE "
                       "complaint_id = $1::uuid AND topic = 'task_events') h "
                       "ORDER BY at, kind DESC",
                       3, p, &res, err, sizeof(err))) {
                km_log_warn("history: %s", err);
                return;
        }
        web_buf_printf(b, "<h2>%s</h2><table id=\"history\"><tbody>",
                       web_t(c, M_HISTORY));
        for (int i = 0; i < PQntuples(res); i++) {
                const char *kind = PQgetvalue(res, i, 1);

                web_buf_printf(b, "<tr><td>%s</td><td>", PQgetvalue(res, i, 0));
                if (!strcmp(kind, "routed")) {
                        web_buf_printf(b, "%s ", web_t(c, M_ATTEMPT));
                        web_buf_esc(b, PQgetvalue(res, i, 3));
                } else {
                        web_buf_esc(b, web_status_name(c, kind));
                }
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 2));
                web_buf_puts(b, "</td><td>");
                web_buf_esc(b, PQgetvalue(res, i, 4));
                web_buf_puts(b, "</td></tr>");
        }
        web_buf_puts(b, "</tbody></table>");
        PQclear(res);
}

/* The task page; refused (409) is the message of a change not made. */
static void web_task_page(struct web_ctx *c, PGconn *conn, const char *id,
                          const char *refused)
{
        static const enum web_msg names[] = {M_CATEGORY, M_ADDRESS, M_STATUS,
                                             M_RECEIVED, M_DUE};
        char utc[8], err[256];
        const char *p[3] = {id, c->s.org, utc};
        struct web_buf *b = &c->out;
        PGresult *res = NULL;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        if (km_pg_exec(conn,
                       "SELECT category, coalesce(address, ''), status, "
                       "to_char(received_at AT TIME ZONE 'UTC' + "
                       "make_interval(hours => $3::int), 'YYYY-MM-DD "
                       "HH24:MI'), to_char(due_at AT TIME ZONE 'UTC' + "
                       "make_interval(hours => $3::int), 'YYYY-MM-DD "
                       "HH24:MI'), description, coalesce(contact->>'name', "
                       "''), coalesce(contact->>'phone', ''), "
                       "coalesce(contact->>'email', ''), due_at < now() AND "
                       "status IN ('open', 'acknowledged', 'reopened'), "
                       "coalesce(status_note, ''), attempt FROM tasks WHERE "
                       "complaint_id = $1::uuid AND org_id = $2",
                       3, p, &res, err, sizeof(err))) {
                km_log_warn("task: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                return;
        }
        if (PQntuples(res) != 1) { /* unknown, or another organisation's */
                PQclear(res);
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                return;
        }
        web_page_begin(c, web_t(c, M_TASK));
        web_buf_printf(b, "<p><a href=\"/inbox\">← %s</a></p>",
                       web_t(c, M_BACK));
        if (refused) {
                web_buf_printf(b, "<div class=\"msg err\" id=\"error\">%s ",
                               web_t(c, M_REFUSED));
                web_buf_esc(b, refused);
                web_buf_puts(b, "</div>");
        }
        web_buf_printf(b, "<h1>%s <span class=\"muted\">%s</span>",
                       web_t(c, M_TASK), id);
        if (PQgetvalue(res, 0, 9)[0] == 't')
                web_buf_printf(b, " <span class=\"badge overdue\">%s</span>",
                               web_t(c, M_OVERDUE));
        web_buf_puts(b, "</h1><table id=\"task\"><tbody>");
        for (int j = 0; j < 5; j++) {
                const char *v = PQgetvalue(res, 0, j);

                web_buf_printf(b, "<tr><th>%s</th><td>", web_t(c, names[j]));
                web_buf_esc(b, j == 0   ? web_category_name(c, v)
                               : j == 2 ? web_status_name(c, v)
                                        : v);
                web_buf_puts(b, "</td></tr>");
        }
        web_buf_puts(b, "</tbody></table>");
        web_buf_printf(b, "<h2>%s</h2><div class=\"desc\" id=\"description\">",
                       web_t(c, M_DESCRIPTION));
        web_buf_esc(b, PQgetvalue(res, 0, 5));
        web_buf_printf(b, "</div><h2>%s</h2><table id=\"contact\"><tbody>",
                       web_t(c, M_CONTACT));
        for (int j = 6; j <= 8; j++) {
                web_buf_printf(b, "<tr><th>%s</th><td>",
                               web_t(c, j == 6   ? M_NAME
                                        : j == 7 ? M_PHONE
                                                 : M_EMAIL));
                web_buf_esc(b, PQgetvalue(res, 0, j));
                web_buf_puts(b, "</td></tr>");
        }
        web_buf_puts(b, "</tbody></table>");
        web_task_forms(c, id, PQgetvalue(res, 0, 2));
        web_task_history(c, conn, id);
        web_page_end(c);
        PQclear(res);
}

void web_task(struct web_ctx *c, const char *id)
{
        PGconn *conn = web_staff_conn(c);

        if (conn == NULL)
                return;
        web_task_page(c, conn, id, NULL);
        km_pgpool_put_conn(&c->w->staff, conn);
}

/* POST /tasks/{id}/ack|resolve|reject: one km_task_apply, as komek-inbox. */
void web_task_change(struct web_ctx *c, const char *id, const char *action)
{
        struct km_task_change ch;
        struct km_task_result res;
        char *note = NULL, *category = NULL, *building = NULL, err[512];
        PGconn *conn;
        int r;

        memset(&ch, 0, sizeof(ch));
        ch.org_id = c->s.org; /* the session's organisation, never the form's */
        ch.complaint_id = id;
        if (!strcmp(action, "ack")) {
                ch.action = KM_TASK_ACK;
        } else if (!strcmp(action, "resolve")) {
                ch.action = KM_TASK_RESOLVE;
                ch.note = note = km_http_form_get(c->body, c->blen, "note");
        } else {
                ch.action = KM_TASK_REJECT;
                ch.note = note = km_http_form_get(c->body, c->blen, "reason");
                category = km_http_form_get(c->body, c->blen, "category");
                building = km_http_form_get(c->body, c->blen, "building");
                ch.category = category && *category ? category : NULL;
                ch.building_id = building && *building ? building : NULL;
        }
        if ((conn = web_staff_conn(c)) == NULL)
                goto cleanup;
        if (ch.action == KM_TASK_REJECT)
                r = web_pub_reject(c->w, conn, &ch, &res, err, sizeof(err));
        else
                r = km_task_apply(conn, c->w->conf, NULL, &ch, &res, err,
                                  sizeof(err));
        if (r == KM_EINPUT) {
                km_log_info("%s %s by %s (%s): refused", action, id, c->s.login,
                            c->s.org);
                /* unknown or another organisation's: as if it did not exist */
                if (strstr(err, "no task ") == err)
                        web_page_error(c, 404, M_NOT_FOUND, NULL);
                else {
                        c->status = 409; /* web_task_page keeps it */
                        web_task_page(c, conn, id, err);
                }
        } else if (r) {
                km_log_warn("%s %s: %s", action, id, err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
        } else {
                km_metric_add(c->w->m_changes, 1);
                km_log_info("%s %s by %s (%s): %s%s%s", action, id, c->s.login,
                            c->s.org, res.status,
                            ch.action == KM_TASK_REJECT ? " to " : "",
                            ch.action == KM_TASK_REJECT ? res.new_org : "");
                web_pub_enqueue(c->w->pub, id);
                web_redirect(c, "/inbox?done=%s", res.status);
        }
        km_pgpool_put_conn(&c->w->staff, conn);
cleanup:
        free(note);
        free(category);
        free(building);
}
