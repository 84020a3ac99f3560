/*
 * test_gateway.c - komek-gateway over real HTTP (POSIX sockets), with the
 * real broker and a fresh PostgreSQL schema: services and requests in XML
 * and JSON parsed back and compared; a POST is on the topic once, and its
 * resubmission answers the same id and publishes nothing; status from the
 * tasks table of the migrated schema (a row as komek-tasksink writes it,
 * built from the very complaint the gateway published, at an organisation
 * of the real directory table); 400/403/404/413/415/429 answers in the
 * spec's error shape;
 * a broker that is not there gives 503 and nothing recorded as published;
 * 24 concurrent POSTs (three of each external id, so the recorder's batch
 * holds the same id twice) each answer 201 with a published row behind it
 * at once: GET /requests/{id} finds it right after the 201.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
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

static struct km_conf conf;
static char schema[128], conninfo[1024], topic[160], key1[128], key2[128];
static char envpg[1200], tmpdir[128];
static int gw_pid = -1, gw_port;
static PGconn *conn;

/* komek-keys add; the key is the one line on stdout. */
static int make_key_with(const char *source, int rate, const char *extra,
                         char *out, size_t len)
{
        char *cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys "
                                 "--config %s/deploy/komek.conf --log-level "
                                 "warn add --source %s --rate %d %s",
                                 conninfo, getenv("KOMEK_BIN"),
                                 getenv("KOMEK_ROOT"), source, rate, extra);
        FILE *fp = popen(cmd, "r");
        int ok = fp && fgets(out, (int)len, fp) != NULL;

        free(cmd);
        if (fp && pclose(fp) != 0)
                ok = 0;
        out[strcspn(out, "\n")] = '\0';
        return ok && strncmp(out, "km_", 3) == 0 ? 0 : -1;
}

static int make_key(const char *source, int rate, char *out, size_t len)
{
        return make_key_with(source, rate, "", out, len);
}

/* Start a gateway; @returns its pid, port in *port. */
static int start_gateway(const char *extra1, const char *extra2, int *port)
{
        static int n;
        char pf[256], log[256], cfg[512], set[256];
        char *argv[16];
        char *env[] = {envpg, NULL};
        int pid, i = 0;
        int64_t deadline = km_now_ms() + 20000;

        snprintf(pf, sizeof(pf), "%s/port-%d", tmpdir, n);
        snprintf(log, sizeof(log), "%s/gateway-%d.log", tmpdir, n++);
        snprintf(cfg, sizeof(cfg), "%s/deploy/komek.conf",
                 getenv("KOMEK_ROOT"));
        snprintf(set, sizeof(set), "topics.complaints=%s", topic);
        char *bin = km_xasprintf("%s/komek-gateway", getenv("KOMEK_BIN"));

        argv[i++] = bin;
        argv[i++] = "--config";
        argv[i++] = cfg;
        argv[i++] = "--set";
        argv[i++] = set;
        argv[i++] = "--port";
        argv[i++] = "0";
        argv[i++] = "--port-file";
        argv[i++] = pf;
        argv[i++] = "--set";
        argv[i++] = "gateway.max_body_bytes=4096";
        if (extra1)
                argv[i++] = (char *)extra1;
        if (extra2)
                argv[i++] = (char *)extra2;
        argv[i] = NULL;
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

static int setup(void **state)
{
        char err[512];
        (void)state;
        if (km_test_conf(&conf) ||
            km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                              sizeof(conninfo)))
                return -1;
        snprintf(envpg, sizeof(envpg), "KOMEK_PG_CONNINFO=%s", conninfo);
        conn = km_pg_connect(conninfo, "test_gateway", 30, err, sizeof(err));
        if (conn == NULL)
                return -1;
        /* the schema is the migrated one (km_test_pg_schema): the gateway
         * reads the real tasks and organisations tables */
        /* key1 also reads the full record (tests/intake/
         * test_gateway_privacy.c tests the public view) */
        if (make_key_with("webform", 100000, "--scope read_private", key1,
                          sizeof(key1)) ||
            make_key("limited", 2, key2, sizeof(key2)))
                return -1;
        if (km_test_topic(&conf, topic, sizeof(topic), "gw", 3))
                return -1;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/komek-test-gw-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
                return -1;
        gw_pid = start_gateway(NULL, NULL, &gw_port);
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
        if (st != 0)
                fprintf(stderr, "gateway exit status %d after SIGTERM\n", st);
        return st == 0 ? 0 : -1;
}

static json_t *get_json(const char *path, int want_status)
{
        struct http_resp r;
        json_t *v;

        assert_int_equal(http_do(gw_port, "GET", path, NULL, NULL, 0, &r), 0);
        if (r.status != want_status)
                fail_msg("GET %s: %d, want %d: %s", path, r.status, want_status,
                         r.body);
        assert_non_null(strstr(r.headers, "application/json"));
        /* every answer, errors too (issue 19) */
        assert_non_null(
                strcasestr(r.headers, "X-Content-Type-Options: nosniff"));
        assert_non_null(strcasestr(r.headers, "Cache-Control: no-store"));
        v = json_loads(r.body, 0, NULL);
        assert_non_null(v);
        http_resp_free(&r);
        return v;
}

/* GET path.json and path.xml: the same content. @returns the JSON. */
static json_t *get_both(const char *path, int want, const char *root)
{
        char p[512], got_root[64];
        struct http_resp r;
        json_t *j, *x;
        int n = (int)strcspn(path, "?"); /* the format goes before a query */

        snprintf(p, sizeof(p), "%.*s.json%s", n, path, path + n);
        j = get_json(p, want);
        snprintf(p, sizeof(p), "%.*s.xml%s", n, path, path + n);
        assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, want);
        assert_non_null(strstr(r.headers, "text/xml"));
        assert_non_null(
                strcasestr(r.headers, "X-Content-Type-Options: nosniff"));
        x = http_xml_parse(r.body, got_root, sizeof(got_root));
        if (x == NULL)
                fail_msg("XML of %s does not parse: %s", path, r.body);
        assert_string_equal(got_root, root);
        if (!http_same(j, x))
                fail_msg("%s: XML and JSON differ:\n%s\n%s", path, r.body,
                         json_dumps(j, 0));
        json_decref(x);
        http_resp_free(&r);
        return j;
}

static int post(int port, const char *fmt, const char *ctype, const char *body,
                json_t **answer)
{
        struct http_resp r;
        char path[64];
        int st;

        snprintf(path, sizeof(path), "/requests.%s", fmt);
        assert_int_equal(
                http_do(port, "POST", path, ctype, body, strlen(body), &r), 0);
        st = r.status;
        if (answer) {
                if (!strcmp(fmt, "json")) {
                        *answer = json_loads(r.body, 0, NULL);
                } else {
                        char root[64];

                        *answer = http_xml_parse(r.body, root, sizeof(root));
                }
                if (*answer == NULL)
                        fail_msg("answer does not parse: %s", r.body);
        }
        http_resp_free(&r);
        return st;
}

#define FORM "application/x-www-form-urlencoded"

static void test_services(void **state)
{
        json_t *j;
        struct http_resp r;

        (void)state;
        j = get_both("/services", 200, "services");
        assert_int_equal(json_array_size(j), conf.ncategories);
        assert_string_equal(json_string_value(json_object_get(
                                    json_array_get(j, 1), "service_code")),
                            conf.categories[1].code);
        json_decref(j);
        j = get_both("/services/lift", 200, "service_definition");
        assert_string_equal(
                json_string_value(json_object_get(j, "service_code")), "lift");
        json_decref(j);
        /* no suffix: XML, the spec's required format */
        assert_int_equal(
                http_do(gw_port, "GET", "/services", NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.headers, "text/xml"));
        http_resp_free(&r);
}

static void test_post_idempotent(void **state)
{
        char body[1024], ext[64], want[KM_ID_LEN], path[128];
        json_t *a = NULL, *b = NULL, *j;
        int n;

        (void)state;
        snprintf(ext, sizeof(ext), "E-%d-%lld", (int)getpid(),
                 (long long)km_wall_s());
        km_id_derive("webform", ext, want);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=%%D0%%9D%%D0"
                 "%%B5%%D1%%82+%%3C%%26%%3E+%%22q%%22&address_string=%%D1%%83"
                 "%%D0%%BB.+%%D0%%9A%%D0%%B5%%D0%%BD%%D0%%B5%%D1%%81%%D0%%B0"
                 "%%D1%%80%%D1%%8B+12&lat=51.128&long=71.43&external_id=%s&"
                 "first_name=Ivan&phone=%%2B77010000000",
                 key1, ext);
        assert_int_equal(post(gw_port, "json", FORM, body, &a), 201);
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(a, 0),
                                                  "service_request_id")),
                want);
        /* the same external id again, in XML, other text: same id */
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=again&"
                 "address_string=x&external_id=%s",
                 key1, ext);
        assert_int_equal(post(gw_port, "xml", FORM, body, &b), 201);
        assert_string_equal(
                json_string_value(json_object_get(json_array_get(b, 0),
                                                  "service_request_id")),
                want);
        json_decref(a);
        json_decref(b);
        /* published exactly once (a 201 comes after the broker's ack:
         * the topic's end holds every publish) */
        n = (int)km_test_read_to_end(&conf, topic, "read_committed", 30000,
                                     NULL, NULL);
        assert_int_equal(n, 1);
        snprintf(path, sizeof(path), "/requests/%s?api_key=%s", want, key1);
        j = get_both(path, 200, "service_requests");
        assert_int_equal(json_array_size(j), 1);
        a = json_array_get(j, 0);
        assert_string_equal(json_string_value(json_object_get(a, "status")),
                            "open");
        assert_string_equal(
                json_string_value(json_object_get(a, "description")),
                "Нет <&> \"q\"");
        assert_string_equal(json_string_value(json_object_get(a, "address")),
                            "ул. Кенесары 12");
        assert_true(json_real_value(json_object_get(a, "lat")) > 51.12);
        json_decref(j);
        /* a JSON body works too */
        snprintf(body, sizeof(body),
                 "{\"api_key\":\"%s\",\"service_code\":\"lift\","
                 "\"description\":\"Лифт\",\"lat\":51.1,\"long\":71.4}",
                 key1);
        assert_int_equal(post(gw_port, "json", "application/json", body, NULL),
                         201);
}

static void expect_error(int port, const char *method, const char *path,
                         const char *ctype, const char *body, size_t blen,
                         int status, const char *what);

/* GET /requests.{json,xml}?QUERY: both formats, the same answer. */
static json_t *get_both_q(const char *query)
{
        char p[512], root[64];
        struct http_resp r;
        json_t *j, *x;

        snprintf(p, sizeof(p), "/requests.json?%s", query);
        j = get_json(p, 200);
        snprintf(p, sizeof(p), "/requests.xml?%s", query);
        assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 200);
        x = http_xml_parse(r.body, root, sizeof(root));
        if (x == NULL)
                fail_msg("XML of %s does not parse: %s", p, r.body);
        assert_string_equal(root, "service_requests");
        if (!http_same(j, x))
                fail_msg("%s: XML and JSON differ:\n%s\n%s", p, r.body,
                         json_dumps(j, 0));
        json_decref(x);
        http_resp_free(&r);
        return j;
}

/* How many of j have service_code code; fails on one outside codes (a
 * comma list) or status outside statuses. */
static size_t count_code(json_t *j, const char *codes, const char *statuses,
                         const char *code, const char *id, int *seen)
{
        size_t n = 0, i;
        json_t *e;

        json_array_foreach (j, i, e) {
                const char *c =
                        json_string_value(json_object_get(e, "service_code"));
                const char *st =
                        json_string_value(json_object_get(e, "status"));
                const char *sid = json_string_value(
                        json_object_get(e, "service_request_id"));

                assert_non_null(c);
                assert_non_null(st);
                if (!strstr(codes, c))
                        fail_msg("service_code %s outside %s", c, codes);
                if (!strstr(statuses, st))
                        fail_msg("status %s outside %s", st, statuses);
                if (!strcmp(c, code))
                        n++;
                if (sid && !strcmp(sid, id))
                        *seen = 1;
        }
        return n;
}

/* Open311 GeoReport v2: service_code and status are comma-delimited lists.
 * id: the closed water_supply request; heating ones are open. */
static void comma_lists(const char *id)
{
        json_t *j;
        int seen = 0;

        j = get_both_q("service_code=water_supply,heating");
        assert_true(count_code(j, "water_supply,heating", "open,closed",
                               "heating", id, &seen) >= 1);
        assert_true(count_code(j, "water_supply,heating", "open,closed",
                               "water_supply", id, &seen) >= 1);
        assert_true(seen);
        json_decref(j);
        /* %2C, empty elements, status list */
        seen = 0;
        j = get_both_q("service_code=heating%2Cwater_supply,&"
                       "status=closed,open");
        assert_true(count_code(j, "water_supply,heating", "open,closed",
                               "heating", id, &seen) >= 1);
        assert_true(seen);
        json_decref(j);
        /* status=open only: the closed one is gone, heating stays */
        seen = 0;
        j = get_both_q("service_code=water_supply,heating&status=open");
        assert_true(count_code(j, "water_supply,heating", "open", "heating", id,
                               &seen) >= 1);
        assert_false(seen);
        json_decref(j);
        /* a code nobody uses in the list changes nothing; a quote is data */
        j = get_both_q("service_code=nothing,%22x%22%5C,lift");
        assert_int_equal(
                count_code(j, "lift", "open,closed", "lift", id, &seen),
                json_array_size(j));
        assert_true(json_array_size(j) >= 1);
        json_decref(j);
        expect_error(gw_port, "GET", "/requests.xml?status=open,maybe", NULL,
                     NULL, 0, 400, "status");
}

struct find_msg {
        const char *id;
        char *payload; /* malloc'ed, the message whose "id" is id */
};

static int find_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct find_msg *f = opaque;
        json_t *j = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));

        if (id && strcmp(id, f->id) == 0 && f->payload == NULL)
                f->payload = km_xstrndup(rkm->payload, rkm->len);
        json_decref(j);
        return f->payload != NULL;
}

static void test_status_from_tasks(void **state)
{
        char body[512], id[KM_ID_LEN], path[160], ext[64];
        const char *p[2] = {id, NULL};
        json_t *a = NULL, *j, *r;
        struct find_msg f = {id, NULL};
        char err[512];

        (void)state;
        snprintf(ext, sizeof(ext), "T-%d-%lld", (int)getpid(),
                 (long long)km_wall_s());
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=water_supply&description=w&"
                 "address_id=b-000007&external_id=%s",
                 key1, ext);
        assert_int_equal(post(gw_port, "json", FORM, body, &a), 201);
        snprintf(id, sizeof(id), "%s",
                 json_string_value(json_object_get(json_array_get(a, 0),
                                                   "service_request_id")));
        json_decref(a);
        /* the complaint as the gateway published it */
        km_test_read_topic(&conf, topic, "read_committed", 100000, 30000, 0,
                           find_cb, &f);
        assert_non_null(f.payload);
        p[1] = f.payload;
        /* an organisation of the directory and the task komek-tasksink
         * would write for it (every column of the migrated tables that
         * has no default), resolved by the inbox */
        if (km_pg_exec(conn,
                       "INSERT INTO organisations (id, kind, name, district, "
                       "phone, updated_at) VALUES ('ksk-0007', 'ksk', "
                       "'КСК Тест', 'Есиль', '+7 7172 000000', now())",
                       0, NULL, NULL, err, sizeof(err)))
                fail_msg("organisations: %s", err);
        if (km_pg_exec(conn,
                       "INSERT INTO tasks (complaint_id, attempt, org_id, "
                       "org_kind, building_id, district, category, "
                       "route_reason, status, received_at, routed_at, "
                       "due_at, acknowledged_at, resolved_at, status_note, "
                       "description, address, contact, updated_at, "
                       "complaint) "
                       "SELECT $1::uuid, 1, 'ksk-0007', 'ksk', "
                       "c->>'building_id', 'Есиль', c->>'category', "
                       "'building_id', 'resolved', "
                       "(c->>'received_at')::timestamptz, now(), "
                       "'2030-01-02T03:04:05Z', now(), now(), 'fixed', "
                       "c->>'description', c->'address'->>'text', "
                       "c->'contact', now(), c FROM (SELECT $2::jsonb AS c) s",
                       2, p, NULL, err, sizeof(err)))
                fail_msg("tasks: %s", err);
        free(f.payload);
        snprintf(path, sizeof(path), "/requests/%s?api_key=%s", id, key1);
        j = get_both(path, 200, "service_requests");
        r = json_array_get(j, 0);
        assert_string_equal(json_string_value(json_object_get(r, "status")),
                            "closed");
        assert_string_equal(
                json_string_value(json_object_get(r, "agency_responsible")),
                "КСК Тест");
        assert_string_equal(
                json_string_value(json_object_get(r, "status_notes")), "fixed");
        assert_string_equal(
                json_string_value(json_object_get(r, "expected_datetime")),
                "2030-01-02T03:04:05Z");
        assert_string_equal(json_string_value(json_object_get(r, "address_id")),
                            "b-000007");
        json_decref(j);
        /* filters */
        snprintf(path, sizeof(path),
                 "/requests.json?status=closed&service_code=water_supply");
        j = get_json(path, 200);
        assert_int_equal(json_array_size(j), 1);
        json_decref(j);
        snprintf(path, sizeof(path),
                 "/requests.json?service_request_id=%s&"
                 "status=open",
                 id);
        j = get_json(path, 200);
        assert_int_equal(json_array_size(j), 0);
        json_decref(j);
        j = get_both("/requests", 200, "service_requests");
        assert_true(json_array_size(j) >= 3);
        json_decref(j);
        comma_lists(id);
}

/* An error answer: status, the spec's shape, a description mentioning
 * what. */
static void expect_error(int port, const char *method, const char *path,
                         const char *ctype, const char *body, size_t blen,
                         int status, const char *what)
{
        struct http_resp r;
        json_t *j, *e;

        assert_int_equal(http_do(port, method, path, ctype, body, blen, &r), 0);
        if (r.status != status)
                fail_msg("%s %s: %d, want %d: %s", method, path, r.status,
                         status, r.body);
        j = json_loads(r.body, 0, NULL);
        if (j == NULL) {
                char root[64];

                j = http_xml_parse(r.body, root, sizeof(root));
                assert_non_null(j);
                assert_string_equal(root, "errors");
        }
        e = json_array_get(j, 0);
        assert_non_null(e);
        if (json_is_integer(json_object_get(e, "code")))
                assert_int_equal(json_integer_value(json_object_get(e, "code")),
                                 status);
        else
                assert_int_equal(
                        atoi(json_string_value(json_object_get(e, "code"))),
                        status);
        if (what &&
            !strstr(json_string_value(json_object_get(e, "description")), what))
                fail_msg("%s %s: description %s lacks %s", method, path,
                         json_string_value(json_object_get(e, "description")),
                         what);
        json_decref(j);
        http_resp_free(&r);
}

static void test_errors(void **state)
{
        char body[512], *big;
        char uuid[KM_ID_LEN];

        (void)state;
        snprintf(body, sizeof(body),
                 "api_key=nope&service_code=heating&"
                 "description=d&address_string=x");
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 403, "api_key");
        snprintf(body, sizeof(body),
                 "service_code=heating&description=d&address_string=x");
        expect_error(gw_port, "POST", "/requests.xml", FORM, body, strlen(body),
                     403, "api_key");
        expect_error(gw_port, "GET", "/nothing.json", NULL, NULL, 0, 404, NULL);
        expect_error(gw_port, "GET", "/services/teleport.xml", NULL, NULL, 0,
                     404, NULL);
        km_id_random(uuid);
        snprintf(body, sizeof(body), "/requests/%s.json", uuid);
        expect_error(gw_port, "GET", body, NULL, NULL, 0, 404, NULL);
        big = km_xmalloc(5000);
        memset(big, 'a', 5000);
        expect_error(gw_port, "POST", "/requests.json", FORM, big, 5000, 413,
                     NULL);
        free(big);
        expect_error(gw_port, "POST", "/requests.json", "text/xml",
                     "<request/>", 10, 415, NULL);
        snprintf(body, sizeof(body),
                 "api_key=%s&description=d&address_string=x", key1);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, "service_code");
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=d&lat=north&"
                 "long=1",
                 key1);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, "lat");
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=d", key1);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, "location");
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=teleport&description=d&"
                 "address_string=x",
                 key1);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, "service_code");
        expect_error(gw_port, "GET", "/requests.json?status=maybe", NULL, NULL,
                     0, 400, "status");
        /* key2 allows 2 per minute: the third is 429 */
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=teleport&description=d&"
                 "address_string=x",
                 key2);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, NULL);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 400, NULL);
        expect_error(gw_port, "POST", "/requests.json", FORM, body,
                     strlen(body), 429, "rate");
}

/* The complaint's channel comes from the key (komek-keys add --channel,
 * default web); a body's own channel field still wins. */
struct chan_want {
        char id[3][KM_ID_LEN];
        char got[3][24];
        int found;
};

static int chan_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct chan_want *w = opaque;
        json_t *j = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *ch = json_string_value(json_object_get(j, "channel"));

        for (int i = 0; id && i < 3; i++)
                if (!strcmp(id, w->id[i]) && w->got[i][0] == '\0') {
                        snprintf(w->got[i], sizeof(w->got[i]), "%s",
                                 ch ? ch : "(none)");
                        w->found++;
                }
        json_decref(j);
        return w->found == 3;
}

static void test_key_channel(void **state)
{
        char key3[128], body[512], out[4096];
        const char *bodies[3];
        struct chan_want w;
        json_t *a = NULL;
        char *cmd;
        FILE *fp;
        size_t n;
        int st;

        (void)state;
        memset(&w, 0, sizeof(w));
        assert_int_equal(make_key_with("mobileapp", 100000, "--channel app",
                                       key3, sizeof(key3)),
                         0);
        /* an undocumented channel: usage error, no key */
        cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys --config "
                           "%s/deploy/komek.conf --log-level warn add "
                           "--source x --channel unknown >/dev/null 2>&1",
                           conninfo, getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"));
        st = system(cmd);
        free(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
        /* list shows the channel */
        cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys --config "
                           "%s/deploy/komek.conf --log-level warn list",
                           conninfo, getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"));
        fp = popen(cmd, "r");
        free(cmd);
        assert_non_null(fp);
        n = fread(out, 1, sizeof(out) - 1, fp);
        out[n] = '\0';
        assert_int_equal(pclose(fp), 0);
        assert_non_null(strstr(out, "channel"));
        assert_non_null(strstr(out, "mobileapp"));
        {
                char *line = strstr(out, "mobileapp");
                char *eol = strchr(line, '\n');

                if (eol)
                        *eol = '\0';
                assert_non_null(strstr(line, " app "));
                if (eol)
                        *eol = '\n';
                line = strstr(out, "webform");
                assert_non_null(line);
                eol = strchr(line, '\n');
                if (eol)
                        *eol = '\0';
                assert_non_null(strstr(line, " web "));
        }
        /* three posts: app key, default key (web), app key with channel */
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&"
                 "description=c1&address_string=x",
                 key3);
        bodies[0] = km_xstrdup(body);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&"
                 "description=c2&address_string=x",
                 key1);
        bodies[1] = km_xstrdup(body);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&"
                 "description=c3&address_string=x&channel=phone",
                 key3);
        bodies[2] = km_xstrdup(body);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(post(gw_port, i == 1 ? "xml" : "json", FORM,
                                      bodies[i], &a),
                                 201);
                snprintf(w.id[i], sizeof(w.id[i]), "%s",
                         json_string_value(json_object_get(
                                 json_array_get(a, 0), "service_request_id")));
                json_decref(a);
                a = NULL;
                free((char *)bodies[i]);
        }
        km_test_read_topic(&conf, topic, "read_committed", 100000, 30000, 0,
                           chan_cb, &w);
        assert_int_equal(w.found, 3);
        assert_string_equal(w.got[0], "app");
        assert_string_equal(w.got[1], "web");
        assert_string_equal(w.got[2], "phone");
}

/* test_post_concurrent: one POST and, after its 201, the GET of its id. */
#define CONC_N 24
struct conc {
        int i, post_status, get_status;
        char ext[64], id[KM_ID_LEN];
};

static void *conc_post(void *arg)
{
        struct conc *c = arg;
        char body[512], path[160];
        struct http_resp r;

        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=c%d&"
                 "address_string=x&external_id=%s",
                 key1, c->i, c->ext);
        if (http_do(gw_port, "POST", "/requests.json", FORM, body, strlen(body),
                    &r) == 0) {
                c->post_status = r.status;
                http_resp_free(&r);
        }
        if (c->post_status != 201)
                return NULL;
        snprintf(path, sizeof(path), "/requests/%s.json", c->id);
        if (http_do(gw_port, "GET", path, NULL, NULL, 0, &r) == 0) {
                c->get_status = r.status;
                http_resp_free(&r);
        }
        return NULL;
}

static void test_post_concurrent(void **state)
{
        struct conc c[CONC_N];
        pthread_t t[CONC_N];
        char like[64], got[32];
        const char *p[1] = {like};
        PGresult *res;

        (void)state;
        snprintf(like, sizeof(like), "C-%d-%lld-%%", (int)getpid(),
                 (long long)km_wall_s());
        for (int i = 0; i < CONC_N; i++) {
                memset(&c[i], 0, sizeof(c[i]));
                c[i].i = i;
                snprintf(c[i].ext, sizeof(c[i].ext), "%.*s%d",
                         (int)strlen(like) - 1, like, i % (CONC_N / 3));
                km_id_derive("webform", c[i].ext, c[i].id);
        }
        for (int i = 0; i < CONC_N; i++)
                assert_int_equal(pthread_create(&t[i], NULL, conc_post, &c[i]),
                                 0);
        for (int i = 0; i < CONC_N; i++)
                pthread_join(t[i], NULL);
        for (int i = 0; i < CONC_N; i++) {
                if (c[i].post_status != 201 || c[i].get_status != 200)
                        fail_msg("POST %d of %s: %d, then GET: %d", i, c[i].ext,
                                 c[i].post_status, c[i].get_status);
        }
        /* one row per external id, every one published */
        res = PQexecParams(conn,
                           "SELECT count(*), count(published_at) FROM "
                           "gateway_requests WHERE external_id LIKE $1",
                           1, NULL, p, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        snprintf(got, sizeof(got), "%s %s", PQgetvalue(res, 0, 0),
                 PQgetvalue(res, 0, 1));
        PQclear(res);
        assert_string_equal(got, "8 8");
}

static void test_broker_down(void **state)
{
        char body[512], ext[64], id[KM_ID_LEN], path[160];
        int port, pid;

        (void)state;
        pid = start_gateway("--brokers=127.0.0.1:1", "--ack-timeout-ms=1000",
                            &port);
        assert_true(pid > 0);
        snprintf(ext, sizeof(ext), "D-%d-%lld", (int)getpid(),
                 (long long)km_wall_s());
        km_id_derive("webform", ext, id);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=heating&description=d&"
                 "address_string=x&external_id=%s",
                 key1, ext);
        expect_error(port, "POST", "/requests.json", FORM, body, strlen(body),
                     503, "broker");
        /* not published, so not a request anyone can see */
        snprintf(path, sizeof(path), "/requests/%s.json", id);
        expect_error(gw_port, "GET", path, NULL, NULL, 0, 404, NULL);
        assert_int_equal(km_test_wait(pid, SIGTERM, 20000), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_services),
                cmocka_unit_test(test_post_idempotent),
                cmocka_unit_test(test_status_from_tasks),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_key_channel),
                cmocka_unit_test(test_post_concurrent),
                cmocka_unit_test(test_broker_down),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
