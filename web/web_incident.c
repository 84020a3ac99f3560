/*
 * web_incident.c - incidents on the web (docs/incidents.md):
 *   the inbox's first section: the organisation's open incidents, each
 *       with its tasks (web_inbox_incidents, called by web_inbox);
 *   GET  /incidents/{id}          one incident, its tasks, the form;
 *   POST /incidents/{id}/resolve  one note resolves each open task
 *       (km_incident_resolve: each task its own change and task-events
 *       message), each published as a single task change is;
 *   the dashboard's open incidents of the city, of the category filter
 *       (web_dash_incidents), at most web.live_cache_s old, as the
 *       dashboard's "now" (web_cache: the city-wide view costs ~0.2 s on
 *       17,000 tasks and grows with them; read per page it held every
 *       analyst connection and wrk at 32 connections measured 15 pages/s).
 * What an incident is, PostgreSQL computes (114_incidents.sql); the
 * staff role only reads the views.  The staff pages' queries are
 * prepared statements: planning the view's windows cost more than running
 * them for one organisation (20-50 ms against ~1 ms on 17,000 tasks), and
 * their connections have jit = off (web_db.c).  The strings of these
 * pages are kept here, beside the pages, in both languages.
 *
 * SECURITY: the organisation is the session's, never the URL's or the
 * form's: another organisation's incident is "not found" (404).  The
 * note is staff text, checked by km_task_apply, never logged; labels come
 * from the directory and are HTML-escaped as everything else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_http.h"
#include "km_id.h"
#include "km_incident.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "web.h"

static const char *wi_t(const struct web_ctx *c, const char *en, const char *ru)
{
        return c->lang[0] == 'r' ? ru : en;
}

static const char *wi_scope(const struct web_ctx *c, const char *scope)
{
        if (!strcmp(scope, "street"))
                return wi_t(c, "street", "улица");
        if (!strcmp(scope, "cell"))
                return wi_t(c, "area", "квартал");
        return wi_t(c, "building", "дом");
}

/* The columns every incident query below returns, in this order. */
#define WI_COLS                                                                \
        "i.incident_id, i.category, i.scope, coalesce(i.label, ''), "          \
        "i.tasks, i.open_tasks, i.buildings, to_char(i.first_at AT TIME "      \
        "ZONE 'UTC' + make_interval(hours => $2::int), 'YYYY-MM-DD "           \
        "HH24:MI'), to_char(i.last_at AT TIME ZONE 'UTC' + "                   \
        "make_interval(hours => $2::int), 'YYYY-MM-DD HH24:MI'), i.status"

/* One incident's heading cells: category, where, tasks, when. */
static void wi_cells(struct web_ctx *c, PGresult *res, int i, int link)
{
        struct web_buf *b = &c->out;

        web_buf_puts(b, "<td>");
        web_buf_esc(b, web_category_name(c, PQgetvalue(res, i, 1)));
        web_buf_printf(b, "</td><td>%s: ", wi_scope(c, PQgetvalue(res, i, 2)));
        if (link)
                web_buf_printf(b, "<a href=\"/incidents/%s\">",
                               PQgetvalue(res, i, 0));
        web_buf_esc(b, PQgetvalue(res, i, 3));
        web_buf_printf(b,
                       "%s</td><td class=\"n\">%s / %s</td><td "
                       "class=\"n\">%s</td><td>%s … %s</td>",
                       link ? "</a>" : "", PQgetvalue(res, i, 5),
                       PQgetvalue(res, i, 4), PQgetvalue(res, i, 6),
                       PQgetvalue(res, i, 7), PQgetvalue(res, i, 8));
}

static void wi_head(struct web_ctx *c, const char *table_id)
{
        web_buf_printf(&c->out,
                       "<table id=\"%s\"><thead><tr><th>%s</th><th>%s</th>"
                       "<th>%s</th><th>%s</th><th>%s</th></tr></thead><tbody>",
                       table_id, web_t(c, M_CATEGORY), wi_t(c, "Where", "Где"),
                       wi_t(c, "Open / tasks", "Открыто / заявок"),
                       wi_t(c, "Buildings", "Домов"),
                       wi_t(c, "Complaints", "Жалобы"));
}

/* The tasks of one incident as rows (the inbox and the incident page). */
static void wi_task_rows(struct web_ctx *c, PGresult *t, const char *id)
{
        struct web_buf *b = &c->out;

        for (int j = 0; j < PQntuples(t); j++) {
                if (strcmp(PQgetvalue(t, j, 0), id) != 0)
                        continue;
                web_buf_printf(b,
                               "<tr class=\"incident-task\" "
                               "data-incident-task=\"%s\"><td>%s</td>"
                               "<td colspan=\"2\"><a href=\"/tasks/%s\">",
                               PQgetvalue(t, j, 1), PQgetvalue(t, j, 4),
                               PQgetvalue(t, j, 1));
                web_buf_esc_n(b, PQgetvalue(t, j, 3), 80);
                web_buf_puts(b, "</a></td><td colspan=\"2\">");
                web_buf_esc_n(b, PQgetvalue(t, j, 5), 100);
                web_buf_printf(b, "</td><td>%s</td></tr>",
                               web_status_name(c, PQgetvalue(t, j, 2)));
        }
}

/* The tasks of the organisation's incidents ids (a PostgreSQL array of
 * uuids, "{a,b}"), for wi_task_rows: incident, complaint, status,
 * address, received, description. */
static int wi_tasks(PGconn *conn, const char *org, const char *utc,
                    const char *ids, PGresult **res, char *err, size_t errlen)
{
        const char *p[3] = {org, utc, ids};

        return web_pg_prepared(
                conn, "web_incident_tasks",
                "SELECT it.incident_id, it.complaint_id, it.status, "
                "coalesce(t.address, ''), to_char(it.received_at AT TIME ZONE "
                "'UTC' + make_interval(hours => $2::int), 'YYYY-MM-DD HH24:MI'), "
                "left(t.description, 160) FROM incident_tasks it JOIN tasks t "
                "ON t.complaint_id = it.complaint_id AND t.org_id = $1 WHERE "
                "it.org_id = $1 AND it.incident_id = ANY ($3::uuid[]) "
                "ORDER BY it.received_at, it.complaint_id",
                3, p, res, err, errlen);
}

/* "{id,id,...}" of column 0 of res (malloc'ed). */
static char *wi_ids(PGresult *res)
{
        struct web_buf b = {0};
        char *s;

        web_buf_puts(&b, "{");
        for (int i = 0; i < PQntuples(res); i++)
                web_buf_printf(&b, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
        web_buf_puts(&b, "}");
        s = km_xstrdup(b.p);
        web_buf_free(&b);
        return s;
}

void web_inbox_incidents(struct web_ctx *c, PGconn *conn)
{
        char utc[8], err[256];
        const char *p[2] = {c->s.org, utc};
        struct web_buf *b = &c->out;
        PGresult *res = NULL, *t = NULL;
        char *ids = NULL;
        int r;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        if (web_pg_prepared(conn, "web_inbox_incidents",
                            "SELECT " WI_COLS " FROM incidents i WHERE "
                            "i.org_id = $1 AND i.status = 'open' ORDER BY "
                            "i.first_at, i.incident_id",
                            2, p, &res, err, sizeof(err))) {
                /* the task list still works without them */
                km_log_warn("inbox incidents: %s", err);
                goto cleanup;
        }
        if (PQntuples(res) == 0)
                goto cleanup;
        ids = wi_ids(res);
        r = wi_tasks(conn, c->s.org, utc, ids, &t, err, sizeof(err));
        free(ids);
        if (r) {
                km_log_warn("inbox incidents: %s", err);
                goto cleanup;
        }
        web_buf_printf(b,
                       "<h2>%s: <span id=\"incident-count\">%d</span>"
                       "</h2>",
                       wi_t(c, "Open incidents", "Открытые инциденты"),
                       PQntuples(res));
        wi_head(c, "incidents");
        for (int i = 0; i < PQntuples(res); i++) {
                web_buf_printf(b,
                               "<tr class=\"incident\" "
                               "data-incident=\"%s\">",
                               PQgetvalue(res, i, 0));
                wi_cells(c, res, i, 1);
                web_buf_puts(b, "</tr>");
                wi_task_rows(c, t, PQgetvalue(res, i, 0));
        }
        web_buf_puts(b, "</tbody></table>");
cleanup:
        PQclear(res);
        PQclear(t);
}

/* The incident page; refused: the message of a change not made. */
static void wi_page(struct web_ctx *c, PGconn *conn, const char *id,
                    const char *refused)
{
        char utc[8], err[256], one[48];
        const char *p[3] = {c->s.org, utc, id};
        struct web_buf *b = &c->out;
        PGresult *res = NULL, *t = NULL;

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        snprintf(one, sizeof(one), "{%s}", id);
        if (web_pg_prepared(conn, "web_incident",
                            "SELECT " WI_COLS " FROM incidents i WHERE "
                            "i.org_id = $1 AND i.incident_id = $3::uuid",
                            3, p, &res, err, sizeof(err)) ||
            (PQntuples(res) == 1 &&
             wi_tasks(conn, c->s.org, utc, one, &t, err, sizeof(err)))) {
                km_log_warn("incident: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        if (PQntuples(res) != 1) { /* unknown, or another organisation's */
                web_page_error(c, 404, M_NOT_FOUND, NULL);
                goto cleanup;
        }
        web_page_begin(c, wi_t(c, "Incident", "Инцидент"));
        web_buf_printf(b, "<p><a href=\"/inbox\">← %s</a></p>",
                       web_t(c, M_BACK));
        if (refused) {
                web_buf_printf(b, "<div class=\"msg err\" id=\"error\">%s ",
                               web_t(c, M_REFUSED));
                web_buf_esc(b, refused);
                web_buf_puts(b, "</div>");
        }
        web_buf_printf(b, "<h1>%s <span class=\"muted\">%s</span></h1>",
                       wi_t(c, "Incident", "Инцидент"), id);
        wi_head(c, "incident");
        web_buf_printf(b, "<tr class=\"incident\" data-incident=\"%s\">", id);
        wi_cells(c, res, 0, 0);
        web_buf_puts(b, "</tr>");
        wi_task_rows(c, t, id);
        web_buf_puts(b, "</tbody></table>");
        if (strcmp(PQgetvalue(res, 0, 5), "0") != 0) {
                web_buf_printf(b,
                               "<div class=\"actions\"><form class=\"box\" "
                               "method=\"post\" action=\"/incidents/%s/"
                               "resolve\" id=\"resolve-incident\">",
                               id);
                web_csrf_field(c);
                web_buf_printf(
                        b,
                        "<label for=\"note\">%s <span "
                        "class=\"muted\">(%s)</span></label>"
                        "<textarea id=\"note\" name=\"note\" "
                        "maxlength=\"1000\" required></textarea>"
                        "<button class=\"primary\" type=\"submit\">"
                        "%s</button></form></div>",
                        web_t(c, M_NOTE),
                        wi_t(c, "each open task is resolved with it",
                             "закроет каждую открытую заявку"),
                        wi_t(c, "Resolve the incident", "Закрыть инцидент"));
        }
        web_page_end(c);
cleanup:
        PQclear(res);
        PQclear(t);
}

static PGconn *wi_conn(struct web_ctx *c)
{
        char err[256];
        PGconn *conn = web_pg_get(&c->w->staff, err, sizeof(err));

        if (conn == NULL) {
                km_log_warn("%s: %s", c->path, err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
        }
        return conn;
}

static void wi_published(void *arg, const char *complaint_id)
{
        struct web_ctx *c = arg;

        km_metric_add(c->w->m_changes, 1);
        web_pub_enqueue(c->w->pub, complaint_id);
}

static void wi_resolve(struct web_ctx *c, PGconn *conn, const char *id)
{
        struct km_incident_counts n;
        char *note = km_http_form_get(c->body, c->blen, "note"), err[512];
        int r;

        r = km_incident_resolve(conn, c->w->conf, c->s.org, id, note,
                                wi_published, c, &n, err, sizeof(err));
        if (r == KM_EINPUT) {
                km_log_info("resolve incident %s by %s (%s): refused", id,
                            c->s.login, c->s.org);
                if (strstr(err, "no incident ") == err) {
                        web_page_error(c, 404, M_NOT_FOUND, NULL);
                } else {
                        c->status = 409;
                        wi_page(c, conn, id, err);
                }
        } else if (r) {
                km_log_warn("resolve incident %s: %s (%d resolved)", id, err,
                            n.resolved);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
        } else {
                km_log_info("resolve incident %s by %s (%s): %d resolved, %d "
                            "refused",
                            id, c->s.login, c->s.org, n.resolved, n.refused);
                web_redirect(c, "/inbox?done=resolved");
        }
        free(note);
}

int web_incident_route(struct web_ctx *c, const char *path, int post)
{
        const char *p = path + strlen("/incidents/");
        char id[40];
        PGconn *conn;

        if (strlen(p) < 36)
                return 0;
        memcpy(id, p, 36);
        id[36] = '\0';
        if (!km_id_valid(id) || strcmp(p + 36, post ? "/resolve" : "") != 0)
                return 0;
        if ((conn = wi_conn(c)) == NULL)
                return 1;
        if (post)
                wi_resolve(c, conn, id);
        else
                wi_page(c, conn, id, NULL);
        km_pgpool_put_conn(&c->w->staff, conn);
        return 1;
}

/* The city's open incidents (of the category filter, NULL-able): at
 * most web.live_cache_s old, shared by web_cache: web_cache_release it. */
static PGresult *wi_dash_query(struct web_ctx *c, const char *category,
                               char *err, size_t errlen)
{
        char utc[8], key[96];
        const char *p[2] = {category, utc};

        snprintf(utc, sizeof(utc), "%lld",
                 (long long)c->w->wc->utc_offset_hours);
        snprintf(key, sizeof(key), "incidents\x1f%s",
                 category ? category : "\x1e");
        return web_cache_query(
                c->w, key, (int)c->w->wc->live_cache_s,
                "SELECT " WI_COLS ", i.org_id, coalesce(o.name, '') "
                "FROM incidents i LEFT JOIN organisations o ON o.id = "
                "i.org_id WHERE i.status = 'open' AND ($1::text IS "
                "NULL OR i.category = $1) ORDER BY i.open_tasks DESC, "
                "i.first_at, i.incident_id LIMIT 200",
                2, p, err, errlen);
}

void web_dash_incidents(struct web_ctx *c, const char *category)
{
        char err[512];
        struct web_buf *b = &c->out;
        PGresult *res = wi_dash_query(c, category, err, sizeof(err));
        int n;

        if (res == NULL) {
                km_log_warn("dashboard incidents: %s", err);
                return;
        }
        n = PQntuples(res);
        web_buf_printf(b,
                       "<h2>%s <span class=\"muted\" "
                       "id=\"incident-count\">%d</span></h2>",
                       wi_t(c, "Open incidents", "Открытые инциденты"), n);
        if (n == 0) {
                web_buf_printf(b, "<p>%s</p>",
                               wi_t(c, "No open incidents.",
                                    "Открытых инцидентов нет."));
                web_cache_release(c->w, res);
                return;
        }
        web_buf_printf(
                b,
                "<table id=\"open-incidents\"><thead><tr><th>%s"
                "</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                "<th>%s</th></tr></thead><tbody>",
                web_t(c, M_ORG), web_t(c, M_CATEGORY), wi_t(c, "Where", "Где"),
                wi_t(c, "Open / tasks", "Открыто / заявок"),
                wi_t(c, "Buildings", "Домов"), wi_t(c, "Complaints", "Жалобы"));
        for (int i = 0; i < n; i++) {
                web_buf_printf(b, "<tr data-incident=\"%s\"><td>",
                               PQgetvalue(res, i, 0));
                web_buf_esc(b, *PQgetvalue(res, i, 11)
                                       ? PQgetvalue(res, i, 11)
                                       : PQgetvalue(res, i, 10));
                web_buf_puts(b, "</td>");
                wi_cells(c, res, i, 0);
                web_buf_puts(b, "</tr>");
        }
        web_buf_puts(b, "</tbody></table>");
        web_cache_release(c->w, res);
}
