/*
 * gateway_get.c - the Open311 reads: GET /services, /services/{code},
 * /requests (filters: service_request_id list, service_code, status,
 * start_date, end_date) and /requests/{id}.
 *
 * Status comes from PostgreSQL: gateway_requests (what this gateway
 * accepted) joined, when the routing engine's tables exist (checked per
 * connection, again every 30 s), with the complaint's latest row in tasks
 * and its organisation: open/acknowledged/rejected/reopened -> open,
 * resolved -> closed, agency_responsible = organisations.name,
 * expected_datetime = tasks.due_at.  Without a task (not routed yet, or no tasks table) the
 * request is open.  Filters are validated here and passed as parameters.
 *
 * SECURITY (privacy, issue 19): these reads need no key, so by default
 * they show nothing that identifies a resident: no staff note
 * (status_notes is only "accepted" for an acknowledged task and "passed
 * to another organisation" for a re-routed one, in gateway.lang), the
 * description and media_url only for services in gateway.public_services, the directory's building address without
 * the apartment (null when no building is known), coordinates that are
 * the building's or rounded to 3 decimals.  A key with the read_private
 * scope (komek-keys add --scope read_private) sees what was recorded; an
 * unknown key is refused (403), a known one is rate limited.  Contacts
 * are never stored here nor shown.  docs/intake.md lists each field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "km_id.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

/* Shared by both variants: $1 ids (uuid[]), $2 service_code, $3 status,
 * $4 start, $5 end, $6 limit, $7 private (the key's read_private scope),
 * $8 the public services (text[], gateway.public_services), $9 and $10
 * the status_notes of an acknowledgement and of a re-route, in
 * gateway.lang (gateway_note_ack, gateway_note_reroute), $11 the offset
 * (page). */
#define GW_WHERE                                                               \
        " WHERE g.published_at IS NOT NULL"                                    \
        " AND ($1::uuid[] IS NULL OR g.id = ANY($1::uuid[]))"                  \
        " AND ($2::text[] IS NULL OR g.service_code = ANY($2::text[]))"        \
        " AND ($3::text[] IS NULL OR x.status = ANY($3::text[]))"              \
        " AND ($4::timestamptz IS NULL OR g.requested_at >= $4)"               \
        " AND ($5::timestamptz IS NULL OR g.requested_at <= $5)"               \
        " ORDER BY g.requested_at DESC, g.id LIMIT $6::int OFFSET $11::int"

/* Privacy (docs/intake.md, deploy/sql/096_open311_privacy.sql): without
 * read_private, no staff note, the resident's description and photo only
 * for a public service, the building's address from the directory (no
 * apartment; NULL when no building is known) and coordinates that are the
 * building's or rounded to 3 decimals (~100 m). */
#define GW_COLS                                                                                                        \
        "SELECT g.id, x.status, CASE WHEN $7::bool THEN x.note ELSE "                                                  \
        "x.pub_note END, "                                                                                             \
        "g.service_code, CASE WHEN $7::bool OR g.service_code = "                                                      \
        "ANY($8::text[]) THEN g.description END, x.agency, " GW_TS("g.requested_at") ", " GW_TS(                       \
                "x.updated") ", " GW_TS("x.due") ", CASE WHEN $7::bool THEN g.address ELSE "                           \
                                                 "x.pub_address END, CASE WHEN $7::bool THEN g.building_id ELSE "      \
                                                 "x.pub_building END, CASE WHEN $7::bool THEN g.lat ELSE "             \
                                                 "coalesce(x.blat, round(g.lat::numeric, 3)::float8) END, CASE WHEN "  \
                                                 "$7::bool THEN g.long ELSE coalesce(x.blong, round(g.long::numeric, " \
                                                 "3)::float8) END, CASE WHEN $7::bool OR g.service_code = "            \
                                                 "ANY($8::text[]) THEN g.media_url END FROM gateway_requests g "

static const char gateway_sql_tasks[] = GW_COLS
        "LEFT JOIN LATERAL (SELECT t.status, t.status_note, t.org_id, "
        "t.due_at, t.updated_at, t.building_id FROM tasks t WHERE "
        "t.complaint_id = g.id ORDER BY t.updated_at DESC LIMIT 1) t ON true "
        "LEFT JOIN organisations o ON o.id::text = t.org_id::text "
        /* the latest state change: a re-routed task's new row has lost
         * the rejection's reason, the outbox keeps it */
        "LEFT JOIN LATERAL (SELECT e.event, e.note FROM task_outbox e "
        "WHERE e.complaint_id = g.id AND e.topic = 'task_events' AND "
        "e.event IN ('acknowledged', 'resolved', 'rejected', 'reopened') "
        "ORDER BY e.created_at DESC, e.event_id LIMIT 1) ev ON true "
        "LEFT JOIN LATERAL (SELECT b.id, b.district, b.street, b.house, "
        "b.lat, b.long FROM buildings b WHERE b.id IN (t.building_id, "
        "g.building_id) ORDER BY b.id = t.building_id DESC LIMIT 1) b ON true "
        "CROSS JOIN LATERAL (SELECT CASE WHEN t.status = 'resolved' THEN "
        "'closed' ELSE 'open' END AS status, coalesce(t.status_note::text, "
        "CASE WHEN t.status = 'acknowledged' THEN $9::text WHEN t.status = "
        "'open' AND ev.event = 'rejected' THEN $10::text || coalesce(': ' || "
        "ev.note, '') END) AS note, CASE WHEN t.status = 'acknowledged' "
        "THEN $9::text WHEN t.status = 'rejected' OR (t.status = 'open' AND "
        "ev.event = 'rejected') THEN $10::text END AS pub_note, "
        "o.name::text AS agency, COALESCE(t.updated_at, g.published_at) AS "
        "updated, t.due_at AS due, CASE WHEN b.id IS NOT NULL THEN "
        "b.district || ', ' || b.street || ' ' || b.house END AS "
        "pub_address, b.id::text AS pub_building, b.lat AS blat, b.long AS "
        "blong) x" GW_WHERE;

/* No routing tables (a gateway alone): no directory to say the building */
static const char gateway_sql_plain[] = GW_COLS
        /* no task: no note ($9 and $10 named only for their types) */
        "CROSS JOIN LATERAL (SELECT 'open'::text AS status, "
        "nullif($9::text, $9::text) AS note, nullif($10::text, $10::text) "
        "AS pub_note, NULL::text AS agency, g.published_at AS updated, "
        "NULL::timestamptz AS due, NULL::text AS pub_address, NULL::text AS "
        "pub_building, NULL::float8 AS blat, NULL::float8 AS blong) x" GW_WHERE;

static char *gateway_list(const char *v, const char *const *allowed, int *bad);

/* What an acknowledgement and a re-route say to the integration (the
 * staff's own words stay private), in gateway.lang. */
const char *gateway_note_ack(const struct gateway *gw)
{
        return strcmp(gw->gc->lang, "ru") == 0 ? "Принято в работу"
                                               : "Accepted";
}

const char *gateway_note_reroute(const struct gateway *gw)
{
        return strcmp(gw->gc->lang, "ru") == 0
                       ? "Передано в другую организацию"
                       : "Passed to another organisation";
}

static const char *gateway_service_name(const struct gateway *gw,
                                        const struct km_category *c)
{
        return strcmp(gw->gc->lang, "ru") == 0 ? c->ru : c->en;
}

static json_t *gateway_service_obj(const struct gateway *gw,
                                   const struct km_category *c)
{
        json_t *o = json_object();
        char desc[300];

        snprintf(desc, sizeof(desc), "%s / %s (SLA %lld h)", c->ru, c->en,
                 (long long)c->sla_hours);
        json_object_set_new(o, "service_code", json_string(c->code));
        json_object_set_new(o, "service_name",
                            json_string(gateway_service_name(gw, c)));
        json_object_set_new(o, "description", json_string(desc));
        /* true: the definition lists the client-id attributes, and
         * FixMyStreet reads it only then */
        json_object_set_new(o, "metadata",
                            json_boolean(*gw->gc->client_id_attributes));
        json_object_set_new(o, "type", json_string("realtime"));
        json_object_set_new(o, "keywords", json_string(c->kind));
        json_object_set_new(o, "group", json_string(c->kind));
        return o;
}

void gateway_services(struct gateway *gw, struct gateway_reply *rep)
{
        rep->body = json_array();
        for (size_t i = 0; i < gw->conf->ncategories; i++)
                json_array_append_new(
                        rep->body,
                        gateway_service_obj(gw, &gw->conf->categories[i]));
        rep->status = 200;
        rep->root = "services";
        rep->item = "service";
}

void gateway_service(struct gateway *gw, const char *code,
                     struct gateway_reply *rep)
{
        const struct km_category *c = km_conf_category(gw->conf, code);
        json_t *attrs;
        int n_attr = 1;

        if (c == NULL) {
                gateway_error(rep, 404, "no service with this service_code");
                return;
        }
        /* The client-id attributes (gateway.client_id_attributes): hidden,
         * filled by the client itself (automated=server_set, as
         * FixMyStreet's Open311::PopulateServiceList reads it); the value
         * becomes the request's external id (gateway_post.c). */
        rep->body =
                json_pack("{s:s, s:[]}", "service_code", c->code, "attributes");
        attrs = json_object_get(rep->body, "attributes");
        for (const char *p = gw->gc->client_id_attributes; *p;) {
                size_t n = strcspn(p, ",");

                if (n > 0) {
                        char *acode = km_xasprintf("%.*s", (int)n, p);

                        json_array_append_new(
                                attrs,
                                json_pack("{s:b, s:s, s:s, s:b, s:s, s:I, s:s, "
                                          "s:s}",
                                          "variable", 0, "code", acode,
                                          "datatype", "string", "required", 0,
                                          "datatype_description",
                                          "the client's own id of the request",
                                          "order", (json_int_t)n_attr++,
                                          "description",
                                          "client request id (idempotency key)",
                                          "automated", "server_set"));
                        free(acode);
                }
                p += n;
                if (*p == ',')
                        p++;
        }
        rep->status = 200;
        rep->root = "service_definition";
        rep->item = "attribute";
}

void gateway_set_opt(json_t *o, const char *k, PGresult *res, int row, int col)
{
        if (PQgetisnull(res, row, col))
                json_object_set_new(o, k, json_null());
        else
                json_object_set_new(o, k,
                                    json_string(PQgetvalue(res, row, col)));
}

static json_t *gateway_request_obj(struct gateway *gw, PGresult *res, int i)
{
        json_t *o = json_object();
        const struct km_category *c =
                km_conf_category(gw->conf, PQgetvalue(res, i, 3));

        gateway_set_opt(o, "service_request_id", res, i, 0);
        gateway_set_opt(o, "status", res, i, 1);
        gateway_set_opt(o, "status_notes", res, i, 2);
        json_object_set_new(o, "service_name",
                            c ? json_string(gateway_service_name(gw, c))
                              : json_null());
        gateway_set_opt(o, "service_code", res, i, 3);
        gateway_set_opt(o, "description", res, i, 4);
        gateway_set_opt(o, "agency_responsible", res, i, 5);
        json_object_set_new(o, "service_notice", json_null());
        gateway_set_opt(o, "requested_datetime", res, i, 6);
        gateway_set_opt(o, "updated_datetime", res, i, 7);
        gateway_set_opt(o, "expected_datetime", res, i, 8);
        gateway_set_opt(o, "address", res, i, 9);
        gateway_set_opt(o, "address_id", res, i, 10);
        json_object_set_new(o, "zipcode", json_null());
        for (int k = 0; k < 2; k++) {
                if (PQgetisnull(res, i, 11 + k))
                        json_object_set_new(o, k ? "long" : "lat", json_null());
                else
                        json_object_set_new(
                                o, k ? "long" : "lat",
                                json_real(strtod(PQgetvalue(res, i, 11 + k),
                                                 NULL)));
        }
        gateway_set_opt(o, "media_url", res, i, 13);
        return o;
}

/* The key of a GET: none is the public view; an unknown one is refused
 * (403), a known one is rate limited like a POST.  @returns 0 with *priv,
 * or -1 with rep set. */
int gateway_get_key(struct gateway *gw, struct km_pgslot *slot, const char *key,
                    int *priv, struct gateway_reply *rep)
{
        int64_t id, rate;
        char err[512];
        int r;

        *priv = 0;
        if (key == NULL || *key == '\0')
                return 0;
        r = gateway_key_read(slot->conn, key, "read_private", &id, &rate, priv,
                             err, sizeof(err));
        if (r == KM_EINPUT) {
                gateway_error(rep, 403, "invalid api_key");
                return KM_EINPUT;
        }
        if (r) {
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("api_keys: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return r;
        }
        if (!gateway_rate_take(gw, id, rate)) {
                gateway_error(rep, 429,
                              "rate limit of %lld requests per minute "
                              "exceeded",
                              (long long)rate);
                rep->retry_after = (int)(60 / rate) + 1;
                return KM_EINPUT;
        }
        return 0;
}

/* extensions=true: each request's history as "notes" (as Chicago's and
 * FixMyStreet's extended GET /requests do), oldest first, with the
 * updates feed's statuses and privacy. */
static const char gateway_sql_notes[] =
        "SELECT complaint_id, event, " GW_TS("at") ", " GW_UPDATE_DESC(
                "$2", "$3",
                "$4") " FROM (SELECT o.complaint_id, "
                      "o.event, o.note, o.event_id, o.created_at, "
                      "coalesce((o.payload::jsonb->>'at')::timestamptz, o.created_at) AS at "
                      "FROM task_outbox o WHERE o.complaint_id = ANY($1::uuid[]) AND "
                      "o.topic = 'task_events' AND o.event IN ('acknowledged', 'resolved', "
                      "'rejected', 'reopened')) h ORDER BY complaint_id, at, created_at, "
                      "event_id";

/* Add "notes" to each request of rep->body.  @returns 0 or an error. */
static int gateway_notes(struct gateway *gw, PGconn *conn, int priv,
                         struct gateway_reply *rep, char *err, size_t errlen)
{
        size_t n = json_array_size(rep->body), off = 0, cap = n * 38 + 3;
        char *ids = km_xmalloc(cap);
        const char *p[4] = {ids, priv ? "true" : "false", gateway_note_ack(gw),
                            gateway_note_reroute(gw)};
        PGresult *res = NULL;
        json_t *byid = json_object(), *o;
        int r;

        ids[off++] = '{';
        for (size_t i = 0; i < n; i++) {
                o = json_array_get(rep->body, i);
                json_object_set_new(o, "notes", json_array());
                json_object_set(byid,
                                json_string_value(json_object_get(
                                        o, "service_request_id")),
                                json_object_get(o, "notes"));
                off += (size_t)snprintf(ids + off, cap - off, "%s%s",
                                        i ? "," : "",
                                        json_string_value(json_object_get(
                                                o, "service_request_id")));
        }
        snprintf(ids + off, cap - off, "}");
        r = n ? km_pg_exec(conn, gateway_sql_notes, 4, p, &res, err, errlen)
              : 0;
        for (int i = 0; r == 0 && i < PQntuples(res); i++) {
                json_t *a = json_object_get(byid, PQgetvalue(res, i, 0));

                json_array_append_new(
                        a,
                        json_pack("{s:s, s:s, s:s, s:s}", "datetime",
                                  PQgetvalue(res, i, 2), "type",
                                  PQgetvalue(res, i, 1), "status",
                                  gateway_update_status(PQgetvalue(res, i, 1)),
                                  "summary",
                                  PQgetisnull(res, i, 3)
                                          ? ""
                                          : PQgetvalue(res, i, 3)));
        }
        PQclear(res);
        json_decref(byid);
        free(ids);
        return r;
}

/* Run the query with params p[0..5], p[10] and the key (NULL-able);
 * ext: with each request's notes (extensions=true). */
static void gateway_query(struct gateway *gw, const char **p, const char *key,
                          int ext, struct gateway_reply *rep)
{
        struct km_pgslot *slot;
        PGresult *res = NULL;
        char err[512], *pub = NULL;
        int r, priv = 0;

        slot = gateway_pg_get_read(gw, err, sizeof(err));
        if (slot == NULL) {
                km_log_error("database: %s", err);
                gateway_error(rep, 503, "database unavailable, try again");
                return;
        }
        if (gateway_get_key(gw, slot, key, &priv, rep)) {
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
                return;
        }
        if (gw->gc->public_services && *gw->gc->public_services)
                pub = gateway_list(gw->gc->public_services, NULL, NULL);
        p[6] = priv ? "true" : "false";
        p[7] = pub;
        p[8] = gateway_note_ack(gw);
        p[9] = gateway_note_reroute(gw);
        r = km_pg_exec(slot->conn,
                       gateway_pg_has_tasks(slot) ? gateway_sql_tasks
                                                  : gateway_sql_plain,
                       11, p, &res, err, sizeof(err));
        if (r == KM_EFATAL && gateway_pg_has_tasks(slot)) {
                /* tasks not (yet) shaped as expected: answer from what the
                 * gateway recorded, and look again in a while */
                km_log_warn("requests with tasks: %s; without tasks", err);
                slot->mark = 0;
                slot->mark_ms = km_now_ms();
                r = km_pg_exec(slot->conn, gateway_sql_plain, 11, p, &res, err,
                               sizeof(err));
        }
        free(pub);
        if (r) {
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("requests query: %s", err);
                gateway_error(rep, r == KM_ERETRY ? 503 : 500,
                              "could not read requests");
                return;
        }
        rep->body = json_array();
        for (int i = 0; i < PQntuples(res); i++)
                json_array_append_new(rep->body,
                                      gateway_request_obj(gw, res, i));
        PQclear(res);
        if (ext && gateway_pg_has_tasks(slot) &&
            (r = gateway_notes(gw, slot->conn, priv, rep, err, sizeof(err)))) {
                km_pgpool_put(slot, PQstatus(slot->conn) != CONNECTION_OK);
                km_obs_pg_error(gw->m.reg, r);
                km_log_error("notes query: %s", err);
                gateway_error(rep, r == KM_ERETRY ? 503 : 500,
                              "could not read requests");
                return;
        }
        if (ext && !gateway_pg_has_tasks(slot)) /* no history yet */
                for (size_t i = 0; i < json_array_size(rep->body); i++)
                        json_object_set_new(json_array_get(rep->body, i),
                                            "notes", json_array());
        km_pgpool_put(slot, 0);
        rep->status = 200;
        rep->root = "service_requests";
        rep->item = "request";
}

void gateway_request(struct gateway *gw, const char *id, const char *api_key,
                     int ext, struct gateway_reply *rep)
{
        char arr[KM_ID_LEN + 2];
        const char *p[11] = {arr,  NULL, NULL, NULL, NULL, "1",
                             NULL, NULL, NULL, NULL, "0"};

        if (!km_id_valid(id)) {
                gateway_error(rep, 404, "no service request with this id");
                return;
        }
        snprintf(arr, sizeof(arr), "{%s}", id);
        gateway_query(gw, p, api_key, ext, rep);
        if (rep->status == 200 && json_array_size(rep->body) == 0) {
                json_decref(rep->body);
                rep->body = NULL;
                gateway_error(rep, 404, "no service request with this id");
        }
}

/* A GeoReport v2 comma-delimited list as a PostgreSQL text[] literal, each
 * element double-quoted (\ and " escaped); empty elements are dropped.
 * NULL when nothing is left. With allowed (NULL-terminated), an element not
 * in it makes *bad = 1. */
static char *gateway_list(const char *v, const char *const *allowed, int *bad)
{
        size_t cap = 2 * strlen(v) + 3 * (strlen(v) + 1) + 3, off = 0, n = 0;
        char *out = km_xmalloc(cap);
        const char *tok = v;

        out[off++] = '{';
        while (*tok) {
                size_t len = strcspn(tok, ",");

                if (len > 0) {
                        if (allowed) {
                                int ok = 0;

                                for (int i = 0; allowed[i]; i++)
                                        if (strlen(allowed[i]) == len &&
                                            !memcmp(allowed[i], tok, len))
                                                ok = 1;
                                if (!ok)
                                        *bad = 1;
                        }
                        if (n++)
                                out[off++] = ',';
                        out[off++] = '"';
                        for (size_t i = 0; i < len; i++) {
                                if (tok[i] == '"' || tok[i] == '\\')
                                        out[off++] = '\\';
                                out[off++] = tok[i];
                        }
                        out[off++] = '"';
                }
                tok += len;
                if (*tok == ',')
                        tok++;
        }
        out[off++] = '}';
        out[off] = '\0';
        if (n == 0) {
                free(out);
                return NULL;
        }
        return out;
}

/* q: service_request_id, service_code, status, start_date, end_date,
 * page, page_size, extensions. */
void gateway_requests(struct gateway *gw, const char *const *q,
                      const char *api_key, struct gateway_reply *rep)
{
        static const char *const statuses[] = {"open", "closed", NULL};
        char *ids = NULL, *codes = NULL, *sts = NULL, start[24], end[24],
             limit[24], offset[24];
        const char *p[11] = {NULL, NULL, NULL, NULL, NULL,  limit,
                             NULL, NULL, NULL, NULL, offset};
        long long page = 1, size = gw->gc->max_results;
        int ext = q[7] && !strcmp(q[7], "true");
        long nids = 0;
        int64_t t;

        if (q[0] && *q[0]) {
                char *copy = km_xstrdup(q[0]), *save = NULL, *tok;
                size_t off = 0, cap = strlen(q[0]) + 3;

                ids = km_xmalloc(cap);
                ids[off++] = '{';
                for (tok = strtok_r(copy, ",", &save); tok;
                     tok = strtok_r(NULL, ",", &save)) {
                        if (!km_id_valid(tok)) {
                                gateway_error(rep, 400,
                                              "service_request_id: "
                                              "invalid_field (not a request "
                                              "id)");
                                free(copy);
                                goto cleanup;
                        }
                        off += (size_t)snprintf(ids + off, cap - off, "%s%s",
                                                off > 1 ? "," : "", tok);
                        nids++;
                }
                snprintf(ids + off, cap - off, "}");
                free(copy);
                p[0] = ids;
        }
        /* service_code and status: comma-delimited lists (GeoReport v2) */
        if (q[1] && *q[1])
                p[1] = codes = gateway_list(q[1], NULL, NULL);
        if (q[2] && *q[2]) {
                int bad = 0;

                sts = gateway_list(q[2], statuses, &bad);
                if (bad) {
                        gateway_error(rep, 400,
                                      "status: invalid_field (open or "
                                      "closed)");
                        goto cleanup;
                }
                p[2] = sts;
        }
        for (int i = 0; i < 2; i++) {
                const char *v = q[3 + i];
                char *buf = i ? end : start;

                if (v == NULL || *v == '\0')
                        continue;
                if (km_parse_rfc3339(v, &t)) {
                        gateway_error(rep, 400,
                                      "%s: invalid_field (not an RFC 3339 "
                                      "time)",
                                      i ? "end_date" : "start_date");
                        goto cleanup;
                }
                km_fmt_rfc3339(t, buf, 24);
                p[3 + i] = buf;
        }
        /* Open311: without ids or dates, the last 90 days */
        if (p[0] == NULL && p[3] == NULL && p[4] == NULL) {
                km_fmt_rfc3339(km_wall_s() - 90 * 86400, start, sizeof(start));
                p[3] = start;
        }
        /* page (from 1) and page_size (1..max_results) as the client
         * asks; else an explicit id list is answered whole (FixMyStreet
         * asks for every open request at once), other queries get
         * max_results */
        for (int i = 0; i < 2; i++) {
                const char *v = q[5 + i];
                char *e;
                long long n;

                if (v == NULL || *v == '\0')
                        continue;
                n = strtoll(v, &e, 10);
                if (*e || n < 1 || (i && n > gw->gc->max_results) ||
                    (!i && n > 1000000)) {
                        gateway_error(rep, 400,
                                      "%s: invalid_field (a whole number "
                                      "from 1 to %lld)",
                                      i ? "page_size" : "page",
                                      i ? (long long)gw->gc->max_results
                                        : 1000000LL);
                        goto cleanup;
                }
                if (i)
                        size = n;
                else
                        page = n;
        }
        if (p[0] && !(q[6] && *q[6]))
                size = nids;
        snprintf(limit, sizeof(limit), "%lld", size);
        snprintf(offset, sizeof(offset), "%lld", (page - 1) * size);
        gateway_query(gw, p, api_key, ext, rep);
cleanup:
        free(ids);
        free(codes);
        free(sts);
}
