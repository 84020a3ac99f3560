/*
 * test_fixmystreet.c - komek-gateway as FixMyStreet's own Open311 client
 * (mySociety perllib/Open311.pm) uses it, issues 21 and 16, over real
 * HTTP with the real broker and a migrated schema; the requests are the
 * shapes that client sends (form-encoded, its field names, attribute[...]
 * fields, its update statuses) and the XML answers are parsed as it reads
 * them:
 *  - the service definition publishes attribute fixmystreet_id as
 *    automated=server_set, and a resend with the same
 *    attribute[fixmystreet_id] and no external_id is the same complaint,
 *    published once;
 *  - POST /servicerequestupdates (post_service_request_update): a
 *    resident's comment reaches the task's history; REOPEN after a
 *    resolution disputes it (task reopened at the same organisation, SLA
 *    restarted, one task-events row); a FIXED/CLOSED after a resolution
 *    confirms it; the answer is the update id; the resident's name and
 *    e-mail are not stored nor logged.
 * The gateway runs as its own login role (komek_gateway_app).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "km_id.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

#define FORM "application/x-www-form-urlencoded"
/* the resident, as FixMyStreet sends them with an update */
#define SURNAME "Zhaksylykova"
#define EMAIL "aigerim.fms%%40example.kz"
#define EMAIL_DEC "aigerim.fms@example.kz"

static struct km_conf conf;
static char schema[128], conninfo[1024], topic[160], tmpdir[128];
static char tevents[160];
static char envpg[1200], key_fms[128], key_other[128], key_priv[128];
static int gw_pid = -1, gw_port;
static PGconn *conn;

static int f_keys(const char *args, char *out, size_t len)
{
        char *cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys "
                                 "--config %s/deploy/komek.conf --log-level "
                                 "warn %s",
                                 conninfo, getenv("KOMEK_BIN"),
                                 getenv("KOMEK_ROOT"), args);
        FILE *fp = popen(cmd, "r");
        int st;

        free(cmd);
        if (fp == NULL)
                return -1;
        if (out && fgets(out, (int)len, fp) == NULL)
                out[0] = '\0';
        while (fgetc(fp) != EOF)
                ;
        st = pclose(fp);
        if (out)
                out[strcspn(out, "\n")] = '\0';
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int f_start(int *port)
{
        char pf[256], log[256], cfg[512], set[256], set2[256];
        char *env[] = {envpg, NULL};
        char *bin = km_xasprintf("%s/komek-gateway", getenv("KOMEK_BIN"));
        char *argv[] = {bin,     "--config",    cfg,  "--set",
                        set,     "--set",       set2, "--port",
                        "0",     "--port-file", pf,   "--log-level",
                        "debug", NULL};
        int64_t deadline = km_now_ms() + 20000;
        int pid;

        snprintf(pf, sizeof(pf), "%s/port", tmpdir);
        snprintf(log, sizeof(log), "%s/gateway.log", tmpdir);
        snprintf(cfg, sizeof(cfg), "%s/deploy/komek.conf",
                 getenv("KOMEK_ROOT"));
        snprintf(set, sizeof(set), "topics.complaints=%s", topic);
        snprintf(set2, sizeof(set2), "topics.task_events=%s", tevents);
        pid = km_test_spawn(argv, env, log);
        free(bin);
        *port = 0;
        while (km_now_ms() < deadline && *port == 0) {
                FILE *fp = fopen(pf, "r");
                struct timespec ts = {0, 50 * 1000000L};

                if (fp) {
                        if (fscanf(fp, "%d", port) != 1)
                                *port = 0;
                        fclose(fp);
                }
                if (*port == 0)
                        nanosleep(&ts, NULL); /* polling for the port file */
        }
        return *port ? pid : -1;
}

static void f_sql(const char *sql, const char *arg)
{
        const char *p[1] = {arg};
        char err[512];

        if (km_pg_exec(conn, sql, arg ? 1 : 0, p, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

/* One value of a query (a copy; "" for NULL or no row). */
static char *f_val(const char *sql, const char *arg)
{
        const char *p[1] = {arg};
        PGresult *res = NULL;
        char err[512], *v;

        if (km_pg_exec(conn, sql, arg ? 1 : 0, p, &res, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
        v = km_xstrdup(PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
        return v;
}

static void f_want(const char *sql, const char *arg, const char *want)
{
        char *v = f_val(sql, arg);

        if (strcmp(v, want))
                fail_msg("%s [%s]: got \"%s\", want \"%s\"", sql,
                         arg ? arg : "", v, want);
        free(v);
}

/* POST form to path (XML: what FixMyStreet reads); the parsed answer. */
static json_t *f_post_xml(const char *path, const char *body, int want_status)
{
        struct http_resp r;
        char root[64];
        json_t *x;

        assert_int_equal(
                http_do(gw_port, "POST", path, FORM, body, strlen(body), &r),
                0);
        if (r.status != want_status)
                fail_msg("POST %s: %d, want %d: %s", path, r.status,
                         want_status, r.body);
        x = http_xml_parse(r.body, root, sizeof(root));
        if (x == NULL)
                fail_msg("POST %s: not XML: %s", path, r.body);
        http_resp_free(&r);
        return x;
}

/* GET path (a query after "?") in XML and JSON: the same answer;
 * @returns the JSON. */
static json_t *f_get(const char *path, const char *want_root)
{
        char p[512], root[64];
        struct http_resp r;
        json_t *j, *x;

        const char *q = strchr(path, '?');
        int n = q ? (int)(q - path) : (int)strlen(path);

        snprintf(p, sizeof(p), "%.*s.json%s", n, path, q ? q : "");
        assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r), 0);
        if (r.status != 200)
                fail_msg("GET %s: %d %s", p, r.status, r.body);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        http_resp_free(&r);
        snprintf(p, sizeof(p), "%.*s.xml%s", n, path, q ? q : "");
        assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        x = http_xml_parse(r.body, root, sizeof(root));
        assert_non_null(x);
        assert_string_equal(root, want_root);
        if (!http_same(j, x))
                fail_msg("%s: XML and JSON differ: %s", path, r.body);
        json_decref(x);
        http_resp_free(&r);
        return j;
}

/* FixMyStreet's send: Open311::send_service_request with the contact's
 * extra field fixmystreet_id filled in; no external_id. */
static void f_send(const char *key, const char *fms_id, char *id)
{
        char body[1024];
        json_t *x;

        snprintf(body, sizeof(body),
                 "api_key=%s&jurisdiction_id=astana&service_code=heating&"
                 "description=No+heating+in+the+flat%%0A%%0AView+report+on+"
                 "site%%3A+https%%3A%%2F%%2Ffms.example%%2Freport%%2F%s&"
                 "lat=51.128207&long=71.430411&address_string=Kenesary+12&"
                 "email=" EMAIL "&first_name=Aigerim&last_name=" SURNAME
                 "&phone=&account_id=&device_id=&attribute%%5Bfixmystreet_id"
                 "%%5D=%s&attribute%%5Btitle%%5D=Cold+radiators",
                 key, fms_id, fms_id);
        x = f_post_xml("/requests.xml", body, 201);
        assert_int_equal(json_array_size(x), 1);
        snprintf(id, KM_ID_LEN, "%s",
                 json_string_value(json_object_get(json_array_get(x, 0),
                                                   "service_request_id")));
        assert_true(km_id_valid(id));
        json_decref(x);
}

struct f_count {
        const char *id;
        int n;
};

static int f_count_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct f_count *c = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));

        if (id && !strcmp(id, c->id))
                c->n++;
        json_decref(o);
        return 0;
}

/* The service definition lists fixmystreet_id as server_set (so
 * FixMyStreet fills it), and the catalogue says there is metadata. */
static void test_service_definition(void **state)
{
        json_t *j, *a;

        (void)state;
        j = f_get("/services", "services");
        assert_true(json_is_true(
                json_object_get(json_array_get(j, 0), "metadata")));
        json_decref(j);
        j = f_get("/services/heating", "service_definition");
        a = json_array_get(json_object_get(j, "attributes"), 0);
        assert_non_null(a);
        assert_string_equal(json_string_value(json_object_get(a, "code")),
                            "fixmystreet_id");
        assert_string_equal(json_string_value(json_object_get(a, "automated")),
                            "server_set");
        assert_true(json_is_false(json_object_get(a, "required")));
        json_decref(j);
}

/* A resend (FixMyStreet retries when it saw no answer) with the same
 * attribute[fixmystreet_id] is the same complaint: the same id, one
 * message on the topic (so one task: the task sink keys tasks on it), one
 * gateway_requests row; another client's same number is another
 * complaint. */
static void test_resend_is_one_complaint(void **state)
{
        char a[KM_ID_LEN], b[KM_ID_LEN], c[KM_ID_LEN];
        struct f_count cnt = {a, 0};

        (void)state;
        f_send(key_fms, "30117", a);
        f_send(key_fms, "30117", b);
        assert_string_equal(a, b);
        f_send(key_other, "30117", c);
        assert_string_not_equal(a, c);
        f_want("SELECT count(*) FROM gateway_requests WHERE external_id = "
               "$1",
               "30117", "2");
        /* every send was answered 201, which the gateway sends only after
         * the broker's acknowledgement: read to the topic's end */
        assert_true(km_test_read_to_end(&conf, topic, "read_committed", 10000,
                                        f_count_cb, &cnt) >= 2);
        assert_int_equal(cnt.n, 1);
}

/* komek-inbox ARGS for the organisation ksk-fms; its stdout. */
static char *f_inbox(const char *args)
{
        char *cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-inbox "
                                 "--config %s/deploy/komek.conf --set "
                                 "inbox.publish=false --org ksk-fms %s",
                                 conninfo, getenv("KOMEK_BIN"),
                                 getenv("KOMEK_ROOT"), args);
        FILE *fp = popen(cmd, "r");
        size_t cap = 65536, n = 0;
        char *out = km_xmalloc(cap);
        int st;

        free(cmd);
        assert_non_null(fp);
        n = fread(out, 1, cap - 1, fp);
        out[n] = '\0';
        st = pclose(fp);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                fail_msg("komek-inbox %s: %d: %s", args, st, out);
        return out;
}

/* A request from FixMyStreet, routed: the task row the task sink writes
 * (status open, at ksk-fms). */
static void f_routed(const char *fms_id, char *id)
{
        f_send(key_fms, fms_id, id);
        f_sql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
              "building_id, category, route_reason, status, received_at, "
              "routed_at, due_at, description, address, contact, updated_at, "
              "complaint) VALUES ($1, 1, 'ksk-fms', 'ksk', 'b-fms-1', "
              "'heating', 'building', 'open', now() - interval '2 hours', "
              "now() - interval '2 hours', now() + interval '22 hours', "
              "'No heating', 'Kenesary 12', '{\"name\": \"Aigerim " SURNAME
              "\"}', now(), '{}')",
              id);
}

/* FixMyStreet's post_service_request_update, as Open311.pm builds it. */
static char *f_update_body(const char *key, const char *id,
                           const char *update_id, const char *status,
                           const char *text)
{
        return km_xasprintf("api_key=%s&jurisdiction_id=astana&"
                            "updated_datetime=2026-12-02T18%%3A30%%3A00%%2B05"
                            "%%3A00&service_request_id=%s&status=%s&"
                            "description=%s&last_name=" SURNAME
                            "&first_name=Aigerim&email=" EMAIL "&update_id=%s",
                            key, id, status, text, update_id);
}

/* POST the update; @returns the update id it answered (a copy). */
static char *f_update(const char *id, const char *update_id, const char *status,
                      const char *text, int want)
{
        char *body = f_update_body(key_fms, id, update_id, status, text);
        json_t *x = f_post_xml("/servicerequestupdates.xml", body, want);
        char *uid = NULL;

        if (want == 201) {
                const char *u = json_string_value(
                        json_object_get(json_array_get(x, 0), "update_id"));

                assert_non_null(u);
                assert_true(km_id_valid(u));
                uid = km_xstrdup(u);
        }
        json_decref(x);
        free(body);
        return uid;
}

struct f_event {
        const char *event_id;
        int n;
        json_t *found;
};

static int f_event_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct f_event *e = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "event_id"));

        if (id && !strcmp(id, e->event_id)) {
                e->n++;
                if (e->found == NULL)
                        e->found = json_incref(o);
        }
        json_decref(o);
        return 0;
}

/* A resident's comment (FixMyStreet status OPEN on an open request)
 * reaches the task's history in the CLI inbox, as a task-events message;
 * a retry with the same update_id is the same update; the name and
 * e-mail are stored nowhere. */
static void test_comment(void **state)
{
        char id[KM_ID_LEN], *u1, *u2, *out;

        (void)state;
        f_routed("40001", id);
        u1 = f_update(id, "7001", "OPEN",
                      "Still+cold+at+night%0D%0Asecond+line", 201);
        u2 = f_update(id, "7001", "OPEN",
                      "Still+cold+at+night%0D%0Asecond+line", 201);
        assert_string_equal(u1, u2);
        f_want("SELECT count(*) || ' ' || min(event) || ' ' || min(note) "
               "FROM task_outbox WHERE complaint_id = $1",
               id, "1 commented Still cold at night\nsecond line");
        f_want("SELECT status FROM tasks WHERE complaint_id = $1", id, "open");
        f_want("SELECT count(*) FROM task_outbox WHERE payload LIKE '%" SURNAME
               "%' OR payload LIKE '%" EMAIL_DEC "%' OR note LIKE '%" SURNAME
               "%'",
               NULL, "0");
        {
                char *args = km_xasprintf("show %s", id);

                out = f_inbox(args);
                free(args);
                if (!strstr(out, "commented by the resident: Still cold"))
                        fail_msg("komek-inbox show: no comment: %s", out);
                free(out);
        }
        {
                struct f_event e = {u1, 0, NULL};

                /* the gateway published the row before it answered (a
                 * row is marked only after the broker's acknowledgement):
                 * the topic's end is final, read to it */
                f_want("SELECT count(*) FROM task_outbox WHERE "
                       "published_at IS NULL",
                       NULL, "0");
                assert_true(km_test_read_to_end(&conf, tevents,
                                                "read_committed", 10000,
                                                f_event_cb, &e) >= 1);
                assert_int_equal(e.n, 1);
                assert_string_equal(
                        json_string_value(json_object_get(e.found, "event")),
                        "commented");
                assert_string_equal(
                        json_string_value(json_object_get(e.found, "org_id")),
                        "ksk-fms");
                json_decref(e.found);
        }
        /* a comment needs a text; an unknown status is refused */
        free(f_update(id, "7002", "OPEN", "", 400));
        free(f_update(id, "7003", "BROKEN", "x", 400));
        free(u1);
        free(u2);
}

/* Resolved, then disputed within the window (FixMyStreet: REOPEN): the
 * task is reopened at the same organisation, first in the inbox, its SLA
 * clock restarted; one task-events message; the updates feed says
 * REOPEN.  The staff can work it again. */
static void test_dispute(void **state)
{
        char id[KM_ID_LEN], older[KM_ID_LEN], *u, *out, *args, *line;
        json_t *j;
        int seen = 0;

        (void)state;
        f_routed("40002", id);
        f_routed("40003", older);
        f_sql("UPDATE tasks SET received_at = now() - interval '3 days' "
              "WHERE complaint_id = $1",
              older);
        args = km_xasprintf("resolve %s --note 'radiators bled'", id);
        free(f_inbox(args));
        free(args);
        u = f_update(id, "7101", "REOPEN", "Not+fixed%2C+still+cold", 201);
        f_want("SELECT status || ' ' || org_id || ' ' || (due_at > now() + "
               "interval '23 hours')::text || ' ' || (reopened_at IS NOT "
               "NULL)::text FROM tasks WHERE complaint_id = $1",
               id, "reopened ksk-fms true true");
        f_want("SELECT count(*) FROM task_outbox WHERE complaint_id = $1 AND "
               "event = 'reopened'",
               id, "1");
        /* the inbox: the disputed task first, before an older open one */
        out = f_inbox("list");
        line = strstr(out, "\n");
        assert_non_null(line);
        line = strstr(line + 1, "\n"); /* the header */
        assert_non_null(line);
        if (strncmp(line + 3, id, strlen(id)))
                fail_msg("komek-inbox list: %s not first: %s", id, out);
        assert_non_null(strstr(out, older));
        free(out);
        args = km_xasprintf("show %s", id);
        out = f_inbox(args);
        if (!strstr(out, "resolved by ksk-fms: radiators bled") ||
            !strstr(out, "reopened by the resident: Not fixed, still cold"))
                fail_msg("komek-inbox show: no history: %s", out);
        free(out);
        free(args);
        {
                struct f_event e = {u, 0, NULL};

                /* the gateway published the row before it answered (a
                 * row is marked only after the broker's acknowledgement):
                 * the topic's end is final, read to it */
                f_want("SELECT count(*) FROM task_outbox WHERE "
                       "published_at IS NULL",
                       NULL, "0");
                assert_true(km_test_read_to_end(&conf, tevents,
                                                "read_committed", 10000,
                                                f_event_cb, &e) >= 1);
                assert_int_equal(e.n, 1);
                assert_string_equal(
                        json_string_value(json_object_get(e.found, "event")),
                        "reopened");
                json_decref(e.found);
        }
        j = f_get("/servicerequestupdates", "service_request_updates");
        for (size_t i = 0; i < json_array_size(j); i++) {
                json_t *o = json_array_get(j, i);

                if (!strcmp(json_string_value(json_object_get(o, "update_id")),
                            u)) {
                        assert_string_equal(
                                json_string_value(json_object_get(o, "status")),
                                "REOPEN");
                        seen++;
                }
        }
        assert_int_equal(seen, 1);
        json_decref(j);
        /* disputing twice: it is no longer resolved */
        free(f_update(id, "7102", "REOPEN", "again", 400));
        /* the staff take it again */
        args = km_xasprintf("ack %s", id);
        free(f_inbox(args));
        free(args);
        f_want("SELECT status FROM tasks WHERE complaint_id = $1", id,
               "acknowledged");
        free(u);
}

/* FIXED (or CLOSED) after a resolution confirms it; a dispute after the
 * window is refused; OPEN on a resolved request (FixMyStreet without
 * extended statuses) disputes it; another client's key cannot touch the
 * request. */
static void test_confirm_window(void **state)
{
        char a[KM_ID_LEN], b[KM_ID_LEN], c[KM_ID_LEN], *args, *body;
        struct http_resp r;

        (void)state;
        f_routed("40004", a);
        f_routed("40005", b);
        f_routed("40006", c);
        args = km_xasprintf("resolve %s --note done", a);
        free(f_inbox(args));
        free(args);
        args = km_xasprintf("resolve %s --note done", b);
        free(f_inbox(args));
        free(args);
        args = km_xasprintf("resolve %s --note done", c);
        free(f_inbox(args));
        free(args);
        free(f_update(a, "7201", "FIXED", "Thank+you", 201));
        f_want("SELECT status || ' ' || (confirmed_at IS NOT NULL)::text "
               "FROM tasks WHERE complaint_id = $1",
               a, "resolved true");
        f_want("SELECT string_agg(event, ',' ORDER BY created_at) FROM "
               "task_outbox WHERE complaint_id = $1",
               a, "resolved,confirmed");
        /* resolved 16 days ago: past gateway.reopen_days (15) */
        f_sql("UPDATE tasks SET resolved_at = now() - interval '16 days' "
              "WHERE complaint_id = $1",
              b);
        free(f_update(b, "7202", "REOPEN", "Not+fixed", 400));
        f_want("SELECT status FROM tasks WHERE complaint_id = $1", b,
               "resolved");
        free(f_update(c, "7203", "OPEN", "Not+fixed", 201));
        f_want("SELECT status FROM tasks WHERE complaint_id = $1", c,
               "reopened");
        body = f_update_body(key_other, c, "7204", "REOPEN", "x");
        assert_int_equal(http_do(gw_port, "POST", "/servicerequestupdates.json",
                                 FORM, body, strlen(body), &r),
                         0);
        assert_int_equal(r.status, 404);
        http_resp_free(&r);
        free(body);
}

struct f_msg {
        const char *id;
        char *payload;
};

static int f_msg_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct f_msg *m = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));

        if (id && !strcmp(id, m->id) && m->payload == NULL)
                m->payload = km_xasprintf("%.*s", (int)rkm->len,
                                          (const char *)rkm->payload);
        json_decref(o);
        return 0;
}

/* The request's status_notes and its latest update's description, for
 * the public (no key) or a read_private key. */
static void f_notes(const char *id, int priv, const char *want_notes,
                    const char *want_status, const char *want_desc)
{
        char path[256];
        json_t *j, *o, *last = NULL;

        snprintf(path, sizeof(path), "/requests/%s%s%s", id,
                 priv ? "?api_key=" : "", priv ? key_priv : "");
        /* f_get puts the suffix at the end: build both by hand */
        {
                struct http_resp r;
                char p[512];

                snprintf(p, sizeof(p), "/requests/%s.json%s%s", id,
                         priv ? "?api_key=" : "", priv ? key_priv : "");
                assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r),
                                 0);
                assert_int_equal(r.status, 200);
                j = json_loads(r.body, 0, NULL);
                http_resp_free(&r);
        }
        o = json_array_get(j, 0);
        if (want_notes == NULL)
                assert_true(json_is_null(json_object_get(o, "status_notes")));
        else if (json_string_value(json_object_get(o, "status_notes")) ==
                         NULL ||
                 strcmp(json_string_value(json_object_get(o, "status_notes")),
                        want_notes))
                fail_msg("%s status_notes: got %s, want %s", path,
                         json_string_value(json_object_get(o, "status_notes")),
                         want_notes);
        json_decref(j);
        if (want_status == NULL) /* no change yet */
                return;
        {
                struct http_resp r;
                char p[512];

                snprintf(p, sizeof(p), "/servicerequestupdates.json%s%s",
                         priv ? "?api_key=" : "", priv ? key_priv : "");
                assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r),
                                 0);
                assert_int_equal(r.status, 200);
                j = json_loads(r.body, 0, NULL);
                http_resp_free(&r);
        }
        for (size_t i = 0; i < json_array_size(j); i++)
                if (!strcmp(json_string_value(
                                    json_object_get(json_array_get(j, i),
                                                    "service_request_id")),
                            id))
                        last = json_array_get(j, i);
        assert_non_null(last);
        assert_string_equal(json_string_value(json_object_get(last, "status")),
                            want_status);
        assert_string_equal(
                json_string_value(json_object_get(last, "description")),
                want_desc);
        json_decref(j);
}

/* Issue 21 part 5: an acknowledgement says "Принято в работу" (the
 * service language, ru in komek.conf) to everyone; a rejection re-routed
 * keeps its reason after the task sink replaced the row (for a
 * read_private key; the public sees that it was passed on). */
static void test_status_notes(void **state)
{
        char id[KM_ID_LEN], *args;
        struct f_msg m = {id, NULL};

        (void)state;
        f_routed("40007", id);
        /* answered 201: on the topic; read to its end, not to a deadline */
        assert_true(km_test_read_to_end(&conf, topic, "read_committed", 10000,
                                        f_msg_cb, &m) >= 1);
        assert_non_null(m.payload);
        /* the canonical complaint, as the task sink stores it */
        {
                const char *p[2] = {id, m.payload};
                char err[512];

                if (km_pg_exec(conn,
                               "UPDATE tasks SET complaint = $2::jsonb WHERE "
                               "complaint_id = $1",
                               2, p, NULL, err, sizeof(err)))
                        fail_msg("%s", err);
        }
        free(m.payload);
        f_notes(id, 0, NULL, NULL, NULL);
        f_notes(id, 1, NULL, NULL, NULL);
        args = km_xasprintf("ack %s", id);
        free(f_inbox(args));
        free(args);
        f_notes(id, 0, "Принято в работу", "IN_PROGRESS", "Принято в работу");
        f_notes(id, 1, "Принято в работу", "IN_PROGRESS", "Принято в работу");
        args = km_xasprintf("reject %s --reason 'not our building'", id);
        free(f_inbox(args));
        free(args);
        /* what the task sink does with the re-route's dispatch message:
         * the row of attempt 2, at triage, without the old note */
        f_sql("UPDATE tasks SET attempt = 2, org_id = 'triage', status = "
              "'open', status_note = NULL, acknowledged_at = NULL WHERE "
              "complaint_id = $1",
              id);
        f_notes(id, 1, "Передано в другую организацию: not our building",
                "FOR_TRIAGE",
                "Передано в другую организацию: not our building");
        f_notes(id, 0, "Передано в другую организацию", "FOR_TRIAGE",
                "Передано в другую организацию");
        /* extensions=true: the history as notes, oldest first */
        for (int priv = 0; priv < 2; priv++) {
                char path[256];
                json_t *j, *notes;

                snprintf(path, sizeof(path), "/requests/%s?extensions=true%s%s",
                         id, priv ? "&api_key=" : "", priv ? key_priv : "");
                j = f_get(path, "service_requests");
                notes = json_object_get(json_array_get(j, 0), "notes");
                assert_int_equal(json_array_size(notes), 2);
                assert_string_equal(
                        json_string_value(json_object_get(
                                json_array_get(notes, 0), "status")),
                        "IN_PROGRESS");
                assert_string_equal(json_string_value(json_object_get(
                                            json_array_get(notes, 1), "type")),
                                    "rejected");
                assert_string_equal(
                        json_string_value(json_object_get(
                                json_array_get(notes, 1), "summary")),
                        priv ? "Передано в другую организацию: not our building"
                             : "Передано в другую организацию");
                assert_non_null(json_string_value(
                        json_object_get(json_array_get(notes, 0), "datetime")));
                json_decref(j);
        }
}

/* GET /discovery: the endpoint, its specification and formats. */
static void test_discovery(void **state)
{
        json_t *j, *ep;
        char want[64];

        (void)state;
        j = f_get("/discovery", "discovery");
        ep = json_array_get(json_object_get(j, "endpoints"), 0);
        /* from the Host header (this client's has no port) */
        snprintf(want, sizeof(want), "http://127.0.0.1");
        assert_int_equal(strncmp(json_string_value(json_object_get(ep, "url")),
                                 want, strlen(want)),
                         0);
        assert_string_equal(
                json_string_value(json_object_get(ep, "specification")),
                "http://wiki.open311.org/GeoReport_v2");
        assert_string_equal(json_string_value(json_array_get(
                                    json_object_get(ep, "formats"), 0)),
                            "text/xml");
        json_decref(j);
}

/* page and page_size: an explicit id list paged as the client asks,
 * newest first; out of range is a 400. */
static void test_paging(void **state)
{
        char ids[5][KM_ID_LEN], fms[16], path[512], seen[5] = {0};
        size_t n = 0;
        struct http_resp r;
        json_t *j;

        (void)state;
        for (int i = 0; i < 5; i++) {
                snprintf(fms, sizeof(fms), "5000%d", i);
                f_send(key_fms, fms, ids[i]);
        }
        n = (size_t)snprintf(path, sizeof(path),
                             "/requests?service_request_id=");
        for (int i = 0; i < 5; i++)
                n += (size_t)snprintf(path + n, sizeof(path) - n, "%s%s",
                                      i ? "," : "", ids[i]);
        for (int page = 1; page <= 3; page++) {
                char p2[600];

                snprintf(p2, sizeof(p2), "%s&page_size=2&page=%d", path, page);
                j = f_get(p2, "service_requests");
                assert_int_equal(json_array_size(j), page < 3 ? 2 : 1);
                for (size_t k = 0; k < json_array_size(j); k++) {
                        const char *id = json_string_value(json_object_get(
                                json_array_get(j, k), "service_request_id"));

                        for (int i = 0; i < 5; i++)
                                if (!strcmp(id, ids[i]))
                                        seen[i]++;
                }
                json_decref(j);
        }
        for (int i = 0; i < 5; i++)
                assert_int_equal(seen[i], 1);
        /* without page_size: the list whole */
        j = f_get(path, "service_requests");
        assert_int_equal(json_array_size(j), 5);
        json_decref(j);
        assert_int_equal(http_do(gw_port, "GET", "/requests.json?page_size=0",
                                 NULL, NULL, 0, &r),
                         0);
        assert_int_equal(r.status, 400);
        http_resp_free(&r);
        assert_int_equal(http_do(gw_port, "GET",
                                 "/requests.json?page_size=1001", NULL, NULL, 0,
                                 &r),
                         0);
        assert_int_equal(r.status, 400);
        http_resp_free(&r);
}

/* FixMyStreet with photo upload: multipart/form-data (CRLF, a file part);
 * the fields are taken, the file's name and size recorded at the end of
 * the description, its bytes not stored.  A description over the Open311
 * 4,000 characters (FixMyStreet adds the title and a link) is cut in the
 * middle with a marker, keeping the link at its end, instead of a
 * permanent 400. */
static void test_multipart_long(void **state)
{
        char body[8192], big[12000], id[KM_ID_LEN], *enc;
        size_t n;
        json_t *j;
        const char *d;
        struct http_resp r;

        (void)state;
        n = (size_t)snprintf(
                body, sizeof(body),
                "--fmsBoundary7\r\nContent-Disposition: form-data; "
                "name=\"api_key\"\r\n\r\n%s\r\n--fmsBoundary7\r\n"
                "Content-Disposition: form-data; name=\"service_code\"\r\n\r\n"
                "heating\r\n--fmsBoundary7\r\nContent-Disposition: form-data; "
                "name=\"description\"\r\n\r\nХолодно\r\n--fmsBoundary7\r\n"
                "Content-Disposition: form-data; name=\"address_string\"\r\n\r\n"
                "Kenesary 12\r\n--fmsBoundary7\r\nContent-Disposition: "
                "form-data; name=\"attribute[fixmystreet_id]\"\r\n\r\n60001\r\n"
                "--fmsBoundary7\r\nContent-Disposition: form-data; "
                "name=\"photo\"; filename=\"radiator.jpg\"\r\nContent-Type: "
                "image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIFxx\r\n--fmsBoundary7--\r\n",
                key_fms);
        assert_int_equal(http_do(gw_port, "POST", "/requests.json",
                                 "multipart/form-data; boundary=fmsBoundary7",
                                 body, n, &r),
                         0);
        if (r.status != 201)
                fail_msg("multipart: %d %s", r.status, r.body);
        j = json_loads(r.body, 0, NULL);
        snprintf(id, sizeof(id), "%s",
                 json_string_value(json_object_get(json_array_get(j, 0),
                                                   "service_request_id")));
        json_decref(j);
        http_resp_free(&r);
        f_want("SELECT description FROM gateway_requests WHERE id = $1", id,
               "Холодно\n[files not stored: radiator.jpg (10 bytes)]");
        /* no closing boundary: 400 */
        assert_int_equal(http_do(gw_port, "POST", "/requests.json",
                                 "multipart/form-data; boundary=fmsBoundary7",
                                 body, 60, &r),
                         0);
        assert_int_equal(r.status, 400);
        http_resp_free(&r);
        /* 4,500 characters (Cyrillic: 2 bytes each) and the link */
        n = 0;
        for (int i = 0; i < 4450; i++)
                n += (size_t)snprintf(big + n, sizeof(big) - n, "ж");
        snprintf(big + n, sizeof(big) - n,
                 "\r\n\r\nView report: https://fms.example/report/60002");
        enc = km_xmalloc(strlen(big) * 3 + 1);
        n = 0;
        for (const unsigned char *c = (const unsigned char *)big; *c; c++)
                n += (size_t)sprintf(enc + n, "%%%02X", *c);
        {
                char *form = km_xasprintf(
                        "api_key=%s&service_code=heating&address_string=Abaya+2&"
                        "attribute%%5Bfixmystreet_id%%5D=60002&description=%s",
                        key_fms, enc);

                assert_int_equal(http_do(gw_port, "POST", "/requests.json",
                                         FORM, form, strlen(form), &r),
                                 0);
                free(form);
        }
        free(enc);
        if (r.status != 201)
                fail_msg("long description: %d %s", r.status, r.body);
        j = json_loads(r.body, 0, NULL);
        snprintf(id, sizeof(id), "%s",
                 json_string_value(json_object_get(json_array_get(j, 0),
                                                   "service_request_id")));
        json_decref(j);
        http_resp_free(&r);
        {
                char *v = f_val("SELECT description || '|' || "
                                "char_length(description) FROM "
                                "gateway_requests WHERE id = $1",
                                id);

                d = strrchr(v, '|');
                assert_non_null(d);
                assert_string_equal(d + 1, "4000");
                assert_non_null(strstr(v, "сокращено: в тексте 4497 симв."));
                assert_non_null(strstr(v, "\n\nView report: "
                                          "https://fms.example/report/60002|"));
                assert_null(strchr(v, '\r'));
                free(v);
        }
}

/* The KSK rating's "disputed resolutions" (deploy/sql/106): of the
 * month's resolved tasks, the share with a reopened task-event, shown for
 * rated and unrated KSKs alike (the facts as komek-analytics loads them). */
static void test_rating_disputed(void **state)
{
        (void)state;
        for (int i = 0; i < 3; i++) {
                char id[KM_ID_LEN];

                km_id_random(id);
                f_sql("INSERT INTO an_tasks (complaint_id, attempt, org_id, "
                      "org_kind, building_id, district, category, received_at, "
                      "day, routed_at, due_at, channel) VALUES ($1, 1, "
                      "'ksk-fms', 'ksk', 'b-fms-1', 'Esil', 'heating', now(), "
                      "(now() AT TIME ZONE 'UTC' + interval '5 hours')::date, "
                      "now(), now() + interval '1 day', 'web')",
                      id);
                if (i < 2)
                        f_sql("INSERT INTO an_task_events (event_id, "
                              "complaint_id, attempt, org_id, event, at) "
                              "VALUES (gen_random_uuid(), $1, 1, 'ksk-fms', "
                              "'resolved', now())",
                              id);
                if (i == 0)
                        f_sql("INSERT INTO an_task_events (event_id, "
                              "complaint_id, attempt, org_id, event, at) "
                              "VALUES (gen_random_uuid(), $1, 1, 'ksk-fms', "
                              "'reopened', now())",
                              id);
        }
        f_want("SELECT resolutions || ' ' || disputes || ' ' || disputed_rate "
               "|| ' ' || coalesce(unrated_reason, 'rated') FROM ksk_rating "
               "WHERE ksk_id = 'ksk-fms' AND month = date_trunc('month', "
               "now() AT TIME ZONE 'UTC' + interval '5 hours')::date",
               NULL, "2 1 0.5000 few_complaints");
}

/* The gateway's log holds no resident's name, e-mail or text. */
static void test_log_private(void **state)
{
        char *path = km_xasprintf("%s/gateway.log", tmpdir);
        FILE *fp = fopen(path, "r");
        char line[4096];
        int n = 0;

        (void)state;
        assert_non_null(fp);
        while (fgets(line, sizeof(line), fp)) {
                n++;
                if (strstr(line, SURNAME) || strstr(line, EMAIL_DEC) ||
                    strstr(line, "still cold") || strstr(line, "Still cold"))
                        fail_msg("the log holds resident data: %s", line);
        }
        assert_true(n > 0);
        fclose(fp);
        free(path);
}

static int setup(void **state)
{
        char err[512];

        (void)state;
        if (km_test_conf(&conf) ||
            km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                              sizeof(conninfo)))
                return -1;
        snprintf(envpg, sizeof(envpg),
                 "KOMEK_PG_CONNINFO=%s user=komek_gateway_app", conninfo);
        conn = km_pg_connect(conninfo, "test_fixmystreet", 30, err,
                             sizeof(err));
        if (conn == NULL ||
            km_test_topic(&conf, topic, sizeof(topic), "fms", 1) ||
            km_test_topic(&conf, tevents, sizeof(tevents), "fmsev", 1))
                return -1;
        /* what the router and task sink would have written */
        f_sql("INSERT INTO organisations (id, kind, name) VALUES "
              "('ksk-fms', 'ksk', 'KSK FixMyStreet')",
              NULL);
        f_sql("INSERT INTO buildings (id, district, street, house, apartments, "
              "ksk_id, lat, long) VALUES ('b-fms-1', 'Esil', 'Kenesary', '12', "
              "40, 'ksk-fms', 51.1, 71.4)",
              NULL);
        if (f_keys("add --source fixmystreet --rate 100000", key_fms,
                   sizeof(key_fms)) ||
            f_keys("add --source webform --rate 100000", key_other,
                   sizeof(key_other)) ||
            f_keys("add --source cityhall --rate 100000 --scope read_private",
                   key_priv, sizeof(key_priv)))
                return -1;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/komek-test-fms-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
                return -1;
        gw_pid = f_start(&gw_port);
        return gw_pid > 0 ? 0 : -1;
}

static int teardown(void **state)
{
        int st = gw_pid > 0 ? km_test_wait(gw_pid, SIGTERM, 15000) : 0;
        char *cmd = km_xasprintf("rm -rf %s", tmpdir);

        (void)state;
        PQfinish(conn);
        km_test_pg_schema_drop(&conf, schema);
        if (system(cmd) != 0)
                st = -1;
        free(cmd);
        km_conf_destroy(&conf);
        return st == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_service_definition),
                cmocka_unit_test(test_resend_is_one_complaint),
                cmocka_unit_test(test_comment),
                cmocka_unit_test(test_dispute),
                cmocka_unit_test(test_confirm_window),
                cmocka_unit_test(test_status_notes),
                cmocka_unit_test(test_discovery),
                cmocka_unit_test(test_paging),
                cmocka_unit_test(test_multipart_long),
                cmocka_unit_test(test_rating_disputed),
                cmocka_unit_test(test_log_private),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
