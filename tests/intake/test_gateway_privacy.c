/*
 * test_gateway_privacy.c - what komek-gateway's public Open311 reads show
 * (issue 19, docs/intake.md "What GET /requests shows"), over real HTTP
 * with the real broker and a migrated schema (the real tasks, buildings
 * and organisations tables): without a key, GET /requests(.json/.xml) and
 * /requests/{id} carry no apartment, contact or staff note, and a
 * description and photo only for a service in gateway.public_services;
 * the address is the directory's building, coordinates the building's or
 * rounded; a key with the read_private scope (komek-keys add --scope
 * read_private) sees the full record, a key without it the public view,
 * an unknown key 403; komek-keys and the gateway refuse unknown scopes
 * and services.  POST /votes (issue 16): only a key with the votes scope,
 * the resident id on the votes topic only as HMAC-SHA256(salt, id) and in
 * no log or answer, the same vote twice the same vote_id, komek-vote's
 * reasons, 415 for a form, 404 without gateway.vote_salt.  The gateway runs as its own login role,
 * komek_gateway_app (a member of komek_intake only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http_client.h"
#include "km_id.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

#define FORM "application/x-www-form-urlencoded"
/* what identifies the resident, as sent */
#define APARTMENT "kv-4711"
#define PHONE "+77015550199"
#define SURNAME "Zhaksylykova"
#define NOTE "called resident, flat 4711, door code 1234"

static struct km_conf conf;
static char schema[128], conninfo[1024], topic[160], vtopic[160];
static char tmpdir[128];
static char envpg[1200], key_pub[128], key_priv[128], key_vote[128];
static char id_heat[KM_ID_LEN], id_lift[KM_ID_LEN], id_free[KM_ID_LEN];
static int gw_pid = -1, gw_port;
static PGconn *conn;

static int p_keys(const char *args, char *out, size_t len)
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

static int p_start(const char *extra, int *port)
{
        static int n;
        char pf[256], log[256], cfg[512], set[256], vset[256];
        char *env[] = {envpg, NULL};
        char *bin = km_xasprintf("%s/komek-gateway", getenv("KOMEK_BIN"));
        char *argv[] = {bin,           "--config",    cfg,  "--set",
                        set,           "--set",       vset, "--port",
                        "0",           "--port-file", pf,   "--set",
                        (char *)extra, NULL};
        int64_t deadline = km_now_ms() + 20000;
        int pid;

        snprintf(pf, sizeof(pf), "%s/port-%d", tmpdir, n);
        snprintf(log, sizeof(log), "%s/gateway-%d.log", tmpdir, n++);
        snprintf(cfg, sizeof(cfg), "%s/deploy/komek.conf",
                 getenv("KOMEK_ROOT"));
        snprintf(set, sizeof(set), "topics.complaints=%s", topic);
        snprintf(vset, sizeof(vset), "topics.votes=%s", vtopic);
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

/* POST a form; @returns the new request's id into id. */
static void p_post(const char *body, char *id)
{
        struct http_resp r;
        json_t *j;

        assert_int_equal(http_do(gw_port, "POST", "/requests.json", FORM, body,
                                 strlen(body), &r),
                         0);
        if (r.status != 201)
                fail_msg("POST: %d %s", r.status, r.body);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        snprintf(id, KM_ID_LEN, "%s",
                 json_string_value(json_object_get(json_array_get(j, 0),
                                                   "service_request_id")));
        json_decref(j);
        http_resp_free(&r);
}

/* GET path (".json" and ".xml" go before a query): both parsed, equal,
 * and neither raw body may contain any of the resident's data when
 * public.  @returns the JSON array. */
static json_t *p_get(const char *path, const char *key, int public)
{
        static const char *const secret[] = {APARTMENT, PHONE,  SURNAME,
                                             NOTE,      "4711", NULL};
        char p[512], root[64];
        struct http_resp r;
        json_t *j = NULL, *x;

        for (int f = 0; f < 2; f++) {
                snprintf(p, sizeof(p), "%s.%s%s%s", path, f ? "xml" : "json",
                         key ? "?api_key=" : "", key ? key : "");
                assert_int_equal(http_do(gw_port, "GET", p, NULL, NULL, 0, &r),
                                 0);
                if (r.status != 200)
                        fail_msg("GET %s: %d %s", p, r.status, r.body);
                for (int i = 0; public && secret[i]; i++)
                        if (strstr(r.body, secret[i]))
                                fail_msg("GET %s shows \"%s\": %s", p,
                                         secret[i], r.body);
                if (f == 0) {
                        j = json_loads(r.body, 0, NULL);
                        assert_non_null(j);
                } else {
                        x = http_xml_parse(r.body, root, sizeof(root));
                        assert_non_null(x);
                        if (!http_same(j, x))
                                fail_msg("%s: XML and JSON differ: %s", p,
                                         r.body);
                        json_decref(x);
                }
                http_resp_free(&r);
        }
        return j;
}

/* The request with this id in an array, or fail. */
static json_t *p_find(json_t *arr, const char *id)
{
        for (size_t i = 0; i < json_array_size(arr); i++) {
                json_t *o = json_array_get(arr, i);

                if (!strcmp(json_string_value(
                                    json_object_get(o, "service_request_id")),
                            id))
                        return o;
        }
        fail_msg("request %s not in the answer", id);
        return NULL;
}

static const char *p_str(json_t *o, const char *k)
{
        return json_string_value(json_object_get(o, k));
}

static void p_assert_null(json_t *o, const char *k)
{
        json_t *v = json_object_get(o, k);

        if (v != NULL && !json_is_null(v))
                fail_msg("%s: got %s, want null", k,
                         json_string_value(v) ? json_string_value(v) : "?");
}

static void test_public_by_default(void **state)
{
        char path[128];
        json_t *j, *o;

        (void)state;
        snprintf(path, sizeof(path), "/requests/%s", id_heat);
        j = p_get(path, NULL, 1);
        o = json_array_get(j, 0);
        assert_string_equal(p_str(o, "status"), "closed");
        assert_string_equal(p_str(o, "service_code"), "heating");
        assert_string_equal(p_str(o, "agency_responsible"), "KSK Privacy");
        /* the building's address from the directory, no apartment */
        assert_string_equal(p_str(o, "address"), "Esil, Kenesary 12");
        assert_string_equal(p_str(o, "address_id"), "b-priv-1");
        p_assert_null(o, "description");
        p_assert_null(o, "status_notes");
        p_assert_null(o, "media_url");
        /* no contact field at all */
        assert_null(json_object_get(o, "phone"));
        assert_null(json_object_get(o, "email"));
        assert_null(json_object_get(o, "first_name"));
        assert_null(json_object_get(o, "last_name"));
        /* the building's coordinates, not the resident's phone's */
        assert_true(fabs(json_real_value(json_object_get(o, "lat")) - 51.1) <
                    1e-9);
        assert_true(fabs(json_real_value(json_object_get(o, "long")) - 71.4) <
                    1e-9);
        json_decref(j);
        /* the list: the same for every request in it (90 days back) */
        j = p_get("/requests", NULL, 1);
        o = p_find(j, id_heat);
        p_assert_null(o, "description");
        p_assert_null(o, "status_notes");
        json_decref(j);
        /* and with dates further back */
        {
                struct http_resp r;

                assert_int_equal(http_do(gw_port, "GET",
                                         "/requests.json?start_date=2000-01-"
                                         "01T00:00:00Z",
                                         NULL, NULL, 0, &r),
                                 0);
                assert_int_equal(r.status, 200);
                assert_null(strstr(r.body, APARTMENT));
                assert_null(strstr(r.body, NOTE));
                http_resp_free(&r);
        }
}

/* No building known: no address at all; coordinates rounded (~100 m). */
static void test_unmatched_address(void **state)
{
        char path[128];
        json_t *j, *o;

        (void)state;
        snprintf(path, sizeof(path), "/requests/%s", id_free);
        j = p_get(path, NULL, 1);
        o = json_array_get(j, 0);
        p_assert_null(o, "address");
        p_assert_null(o, "address_id");
        p_assert_null(o, "description");
        assert_true(fabs(json_real_value(json_object_get(o, "lat")) - 51.123) <
                    1e-9);
        assert_true(fabs(json_real_value(json_object_get(o, "long")) - 71.457) <
                    1e-9);
        json_decref(j);
        /* read_private: as sent */
        j = p_get(path, key_priv, 0);
        o = json_array_get(j, 0);
        assert_non_null(strstr(p_str(o, "address"), APARTMENT));
        assert_true(fabs(json_real_value(json_object_get(o, "lat")) -
                         51.123456) < 1e-9);
        json_decref(j);
}

/* A service configured public: its description and photo are shown. */
static void test_public_service(void **state)
{
        char path[128];
        json_t *j, *o;

        (void)state;
        snprintf(path, sizeof(path), "/requests/%s", id_lift);
        j = p_get(path, NULL, 0);
        o = json_array_get(j, 0);
        assert_string_equal(p_str(o, "description"), "the lift is stuck");
        assert_string_equal(p_str(o, "media_url"),
                            "https://img.example/lift.jpg");
        p_assert_null(o, "status_notes");
        assert_null(strstr(p_str(o, "address") ? p_str(o, "address") : "",
                           APARTMENT));
        json_decref(j);
}

static void test_read_private_scope(void **state)
{
        char path[160];
        struct http_resp r;
        json_t *j, *o;

        (void)state;
        snprintf(path, sizeof(path), "/requests/%s", id_heat);
        j = p_get(path, key_priv, 0);
        o = json_array_get(j, 0);
        assert_string_equal(p_str(o, "description"),
                            "no heating, " SURNAME " " PHONE);
        assert_string_equal(p_str(o, "status_notes"), NOTE);
        assert_string_equal(p_str(o, "media_url"),
                            "https://img.example/rad.jpg");
        assert_non_null(strstr(p_str(o, "address"), APARTMENT));
        /* still no contact: the gateway never stores it */
        assert_null(json_object_get(o, "phone"));
        json_decref(j);
        j = p_get("/requests", key_priv, 0);
        assert_string_equal(p_str(p_find(j, id_heat), "status_notes"), NOTE);
        json_decref(j);
        /* a key without the scope: the public view */
        j = p_get(path, key_pub, 1);
        p_assert_null(json_array_get(j, 0), "description");
        json_decref(j);
        /* an unknown key: refused, not served as public */
        snprintf(path, sizeof(path), "/requests/%s.json?api_key=km_nope",
                 id_heat);
        assert_int_equal(http_do(gw_port, "GET", path, NULL, NULL, 0, &r), 0);
        assert_int_equal(r.status, 403);
        http_resp_free(&r);
}

static void test_refused_configuration(void **state)
{
        char out[512], *cmd;
        int st;

        (void)state;
        assert_int_equal(p_keys("add --source x --scope write_all", NULL, 0),
                         2);
        assert_int_equal(
                p_keys("add --source x --scope read_private,", NULL, 0), 2);
        /* list shows the scope */
        cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys --config "
                           "%s/deploy/komek.conf --log-level warn list | "
                           "grep -c read_private",
                           conninfo, getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"));
        {
                FILE *fp = popen(cmd, "r");

                assert_non_null(fp);
                assert_non_null(fgets(out, sizeof(out), fp));
                pclose(fp);
        }
        free(cmd);
        assert_int_equal(atoi(out), 1);
        /* a public service that is no service: exit 2 at start */
        cmd = km_xasprintf("timeout 20 %s/komek-gateway --config "
                           "%s/deploy/komek.conf --port 0 --set "
                           "gateway.public_services=lift,nonsense "
                           ">/dev/null 2>&1",
                           getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"));
        st = system(cmd);
        free(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
}

static void p_sql(const char *sql, const char *arg)
{
        const char *p[1] = {arg};
        char err[512];

        if (km_pg_exec(conn, sql, arg ? 1 : 0, p, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

struct fms_find {
        const char *id;
        json_t *found;
};

static int fms_find_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct fms_find *f = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "id"));

        if (id && !f->found && !strcmp(id, f->id))
                f->found = json_incref(o);
        json_decref(o);
        return 0;
}

/* What FixMyStreet sends (issue 21): media_url repeated (several
 * photos) becomes media_urls, the first one the request's; deviceid is
 * its spelling of device_id; both spellings at once is a duplicate. */
static void test_fixmystreet_shapes(void **state)
{
        char body[1024], id[KM_ID_LEN];
        struct http_resp r;
        json_t *j, *o;

        (void)state;
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=lift&description=photos&"
                 "address_string=Abaya+2&deviceid=fms-device-7&"
                 "media_url=https%%3A%%2F%%2Fimg.example%%2F1.jpg&"
                 "media_url=https%%3A%%2F%%2Fimg.example%%2F2.jpg&"
                 "media_url=https%%3A%%2F%%2Fimg.example%%2F3.jpg",
                 key_pub);
        p_post(body, id);
        p_sql("SELECT media_url FROM gateway_requests WHERE id = $1", id);
        j = p_get("/requests", key_priv, 0);
        o = p_find(j, id);
        assert_string_equal(p_str(o, "media_url"), "https://img.example/1.jpg");
        json_decref(j);
        /* on the topic: all three, in order */
        {
                struct fms_find f = {id, NULL};

                /* answered 201 (after the broker's acknowledgement): read
                 * to the topic's end, not to a deadline */
                assert_true(km_test_read_to_end(&conf, topic, "read_committed",
                                                10000, fms_find_cb, &f) >= 1);
                assert_non_null(f.found);
                assert_int_equal(
                        json_array_size(json_object_get(f.found, "media_urls")),
                        3);
                assert_string_equal(
                        json_string_value(json_array_get(
                                json_object_get(f.found, "media_urls"), 2)),
                        "https://img.example/3.jpg");
                json_decref(f.found);
        }
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=lift&description=x&address_string="
                 "Abaya+2&deviceid=a&device_id=b",
                 key_pub);
        assert_int_equal(http_do(gw_port, "POST", "/requests.json", FORM, body,
                                 strlen(body), &r),
                         0);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "duplicate_key"));
        http_resp_free(&r);
        /* eleven photos: more than the model takes, a 400 naming it */
        {
                size_t n = (size_t)snprintf(body, sizeof(body),
                                            "api_key=%s&service_code=lift&"
                                            "description=x&address_string="
                                            "Abaya+2",
                                            key_pub);

                for (int i = 0; i < 11; i++)
                        n += (size_t)snprintf(body + n, sizeof(body) - n,
                                              "&media_url=https%%3A%%2F%%2Fi."
                                              "example%%2F%d.jpg",
                                              i);
                assert_int_equal(http_do(gw_port, "POST", "/requests.json",
                                         FORM, body, strlen(body), &r),
                                 0);
                assert_int_equal(r.status, 400);
                assert_non_null(strstr(r.body, "media_url"));
                http_resp_free(&r);
        }
}

/* FixMyStreet asks for every open request in one GET: 5,000 ids (190 kB
 * of query) are answered, whole, beyond gateway.max_results. */
static void test_many_ids(void **state)
{
        size_t cap = 5000 * 37 + 256, n;
        char *path = km_xmalloc(cap), id[KM_ID_LEN];
        struct http_resp r;
        json_t *j;

        (void)state;
        n = (size_t)snprintf(path, cap,
                             "/requests.json?api_key=%s&"
                             "service_request_id=%s,%s,%s",
                             key_priv, id_heat, id_lift, id_free);
        for (int i = 0; i < 4997; i++) {
                km_id_random(id);
                n += (size_t)snprintf(path + n, cap - n, ",%s", id);
        }
        assert_int_equal(http_do(gw_port, "GET", path, NULL, NULL, 0, &r), 0);
        if (r.status != 200)
                fail_msg("GET with 5,000 ids: %d %.200s", r.status, r.body);
        j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_array_size(j), 3);
        json_decref(j);
        http_resp_free(&r);
        free(path);
}

/* The updates extension (issue 21): the staff's changes to a request
 * posted here, made with komek-inbox, listed by GET
 * /servicerequestupdates in order, on FixMyStreet's statuses; the note
 * only for a read_private key. */
static void test_updates(void **state)
{
        char *cmd;
        json_t *j, *o;
        int n = 0;

        (void)state;
        p_sql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
              "building_id, category, route_reason, status, received_at, "
              "routed_at, due_at, description, updated_at, complaint) VALUES "
              "($1, 1, 'ksk-priv', 'ksk', 'b-priv-1', 'lift', 'building', "
              "'open', now() - interval '1 hour', now(), now() + interval "
              "'1 day', 'x', now(), '{}')",
              id_lift);
        for (int i = 0; i < 2; i++) {
                cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-inbox "
                                   "--config %s/deploy/komek.conf --set "
                                   "inbox.publish=false --org ksk-priv %s %s "
                                   "%s >/dev/null",
                                   conninfo, getenv("KOMEK_BIN"),
                                   getenv("KOMEK_ROOT"), i ? "resolve" : "ack",
                                   id_lift,
                                   i ? "--note 'lift repaired, " NOTE "'" : "");
                assert_int_equal(system(cmd), 0);
                free(cmd);
        }
        for (int priv = 0; priv < 2; priv++) {
                j = p_get("/servicerequestupdates", priv ? key_priv : NULL,
                          !priv);
                n = 0;
                for (size_t i = 0; i < json_array_size(j); i++) {
                        o = json_array_get(j, i);
                        if (strcmp(p_str(o, "service_request_id"), id_lift))
                                continue;
                        assert_string_equal(p_str(o, "status"),
                                            n ? "FIXED" : "IN_PROGRESS");
                        assert_string_equal(p_str(o, "external_status_code"),
                                            n ? "resolved" : "acknowledged");
                        assert_non_null(p_str(o, "update_id"));
                        assert_non_null(p_str(o, "updated_datetime"));
                        /* an acknowledgement says so to everyone (the
                         * service language, komek.conf: ru); the
                         * resolution's note is the staff's */
                        if (n && priv)
                                assert_non_null(strstr(p_str(o, "description"),
                                                       "lift repaired"));
                        else if (n)
                                assert_string_equal(p_str(o, "description"),
                                                    "");
                        else
                                assert_string_equal(p_str(o, "description"),
                                                    "Принято в работу");
                        n++;
                }
                assert_int_equal(n, 2);
                json_decref(j);
        }
        /* a window longer than 90 days is refused */
        {
                struct http_resp r;

                assert_int_equal(
                        http_do(gw_port, "GET",
                                "/servicerequestupdates.json?start_date="
                                "2025-01-01T00:00:00Z&end_date="
                                "2025-06-01T00:00:00Z",
                                NULL, NULL, 0, &r),
                        0);
                assert_int_equal(r.status, 400);
                http_resp_free(&r);
        }
}

/* POST a vote; @returns the status, the answer's vote_id into id. */
static int p_vote(int port, const char *key, const char *ctype,
                  const char *body, char *id, char *text, size_t tlen)
{
        char path[256];
        struct http_resp r;
        json_t *j;
        int st;

        snprintf(path, sizeof(path), "/votes.json%s%s", key ? "?api_key=" : "",
                 key ? key : "");
        assert_int_equal(
                http_do(port, "POST", path, ctype, body, strlen(body), &r), 0);
        st = r.status;
        if (text)
                snprintf(text, tlen, "%s", r.body ? r.body : "");
        if (id) {
                id[0] = '\0';
                j = st == 201 ? json_loads(r.body, 0, NULL) : NULL;
                if (j)
                        snprintf(id, KM_ID_LEN, "%s",
                                 json_string_value(json_object_get(
                                         json_array_get(j, 0), "vote_id"))
                                         ?: "");
                json_decref(j);
        }
        http_resp_free(&r);
        return st;
}

struct p_votes {
        json_t *all;
};

static int p_vote_collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct p_votes *v = opaque;
        json_t *j = json_loadb(rkm->payload, rkm->len, 0, NULL);

        if (j)
                json_array_append_new(v->all, j);
        if (memmem(rkm->payload, rkm->len, "RESIDENT-IIN-880101300999", 25))
                fail_msg("the raw resident id is on the votes topic");
        return 0;
}

static void test_votes(void **state)
{
#define SALT "test-vote-salt-0123456789"
#define VOTE(score, month, extra)                                              \
        "{\"ksk_id\":\"ksk-priv\",\"resident\":\"RESIDENT-IIN-880101300999\"," \
        "\"month\":\"" month "\",\"score\":" score ",\"voted_at\":"            \
        "\"2026-07-14T09:00:00+06:00\"" extra "}"
        static const struct {
                const char *body, *want;
        } bad[] = {
                {VOTE("9", "2026-07", ""), "invalid_field:score"},
                {VOTE("4", "2026-13", ""), "invalid_field:month"},
                {VOTE("\"4\"", "2026-07", ""), "wrong_type:score"},
                {VOTE("4", "2026-07", ",\"name\":\"x\""), "unknown_field:vote"},
                {"{\"ksk_id\":\"ksk-priv\"}", "missing_field:resident"},
                {"[1,2]", "wrong_type:root"},
                {"{\"ksk_id\":", "invalid_json"},
        };
        char id1[KM_ID_LEN], id2[KM_ID_LEN], id3[KM_ID_LEN], text[2048];
        char hash[65], name[256], want[KM_ID_LEN], path[256];
        struct p_votes got = {json_array()};
        int port, pid, off_port, off_pid;
        unsigned char md[32];
        unsigned int mdlen = 0;
        json_t *v;

        (void)state;
        pid = p_start("gateway.vote_salt=" SALT, &port);
        assert_true(pid > 0);
        /* the integration that verified the resident: 201 with the id */
        assert_int_equal(p_vote(port, key_vote, "application/json",
                                VOTE("4", "2026-07", ""), id1, text,
                                sizeof(text)),
                         201);
        /* the same resident, KSK and month again: the same vote_id (the
         * consumers keep the first); another month: another vote */
        assert_int_equal(p_vote(port, key_vote,
                                "application/json; "
                                "charset=utf-8",
                                VOTE("1", "2026-07", ""), id2, NULL, 0),
                         201);
        assert_string_equal(id1, id2);
        assert_int_equal(p_vote(port, key_vote, "application/json",
                                VOTE("5", "2026-08", ""), id3, NULL, 0),
                         201);
        assert_string_not_equal(id1, id3);
        if (strstr(text, "RESIDENT-IIN"))
                fail_msg("the answer shows the resident id: %s", text);
        /* vote_id = km_id_derive("vote", hmac "\n" ksk "\n" month), the
         * HMAC computed here independently of the gateway's code */
        HMAC(EVP_sha256(), SALT, (int)strlen(SALT),
             (const unsigned char *)"RESIDENT-IIN-880101300999", 25, md,
             &mdlen);
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(hash + 2 * i, 3, "%02x", md[i]);
        snprintf(name, sizeof(name), "%s\nksk-priv\n2026-07", hash);
        km_id_derive("vote", name, want);
        assert_string_equal(id1, want);
        /* refused: no key, an unknown key, keys without the scope, a form,
         * and every reason komek-vote gives */
        assert_int_equal(p_vote(port, NULL, "application/json",
                                VOTE("4", "2026-07", ""), NULL, NULL, 0),
                         403);
        assert_int_equal(p_vote(port, "km_nope", "application/json",
                                VOTE("4", "2026-07", ""), NULL, NULL, 0),
                         403);
        assert_int_equal(p_vote(port, key_pub, "application/json",
                                VOTE("4", "2026-07", ""), NULL, text,
                                sizeof(text)),
                         403);
        assert_non_null(strstr(text, "votes scope"));
        assert_int_equal(p_vote(port, key_priv, "application/json",
                                VOTE("4", "2026-07", ""), NULL, NULL, 0),
                         403);
        assert_int_equal(
                p_vote(port, key_vote, FORM, "ksk_id=ksk-priv", NULL, NULL, 0),
                415);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(p_vote(port, key_vote, "application/json",
                                        bad[i].body, NULL, text, sizeof(text)),
                                 400);
                if (strstr(text, bad[i].want) == NULL ||
                    strstr(text, "RESIDENT-IIN"))
                        fail_msg("%s: want %s, got %s", bad[i].body,
                                 bad[i].want, text);
        }
        /* on the topic: exactly the three accepted votes, hashed */
        /* every vote was answered after the broker's acknowledgement:
         * read to the topic's end, no settle time */
        assert_int_equal(km_test_read_to_end(&conf, vtopic, "read_committed",
                                             30000, p_vote_collect, &got),
                         3);
        v = json_array_get(got.all, 0);
        assert_string_equal(json_string_value(json_object_get(v, "vote_id")),
                            id1);
        assert_string_equal(
                json_string_value(json_object_get(v, "resident_hash")), hash);
        assert_int_equal(json_integer_value(json_object_get(v, "score")), 4);
        assert_string_equal(json_string_value(json_object_get(v, "voted_at")),
                            "2026-07-14T03:00:00Z");
        assert_null(json_object_get(v, "resident"));
        json_decref(got.all);
        /* without a salt the gateway takes no votes */
        off_pid = p_start("gateway.vote_salt=", &off_port);
        assert_true(off_pid > 0);
        assert_int_equal(p_vote(off_port, key_vote, "application/json",
                                VOTE("4", "2026-07", ""), NULL, NULL, 0),
                         404);
        assert_int_equal(km_test_wait(off_pid, SIGTERM, 15000), 0);
        assert_int_equal(km_test_wait(pid, SIGTERM, 15000), 0);
        /* and no log line holds the resident id */
        snprintf(path, sizeof(path), "grep -rqs RESIDENT-IIN %s", tmpdir);
        assert_int_not_equal(system(path), 0);
#undef VOTE
#undef SALT
}

static int setup(void **state)
{
        char err[512], body[1024];

        (void)state;
        if (km_test_conf(&conf) ||
            km_test_pg_schema(&conf, schema, sizeof(schema), conninfo,
                              sizeof(conninfo)))
                return -1;
        /* the gateway logs in as its own role (deploy/pg.sh up): its
         * grants, not the owner's, must be enough for these reads */
        snprintf(envpg, sizeof(envpg),
                 "KOMEK_PG_CONNINFO=%s user=komek_gateway_app", conninfo);
        conn = km_pg_connect(conninfo, "test_gateway_privacy", 30, err,
                             sizeof(err));
        if (conn == NULL ||
            km_test_topic(&conf, topic, sizeof(topic), "gwp", 1) ||
            km_test_topic(&conf, vtopic, sizeof(vtopic), "gwv", 1))
                return -1;
        if (p_keys("add --source webform --rate 100000", key_pub,
                   sizeof(key_pub)) ||
            p_keys("add --source cityhall --rate 100000 --scope read_private",
                   key_priv, sizeof(key_priv)) ||
            p_keys("add --source portal --rate 100000 --scope votes", key_vote,
                   sizeof(key_vote)))
                return -1;
        snprintf(tmpdir, sizeof(tmpdir), "/tmp/komek-test-gwp-XXXXXX");
        if (mkdtemp(tmpdir) == NULL)
                return -1;
        gw_pid = p_start("gateway.public_services=lift", &gw_port);
        if (gw_pid <= 0)
                return -1;
        /* a heating complaint from a flat (structured address), routed to
         * building b-priv-1 and resolved with a staff note */
        snprintf(
                body, sizeof(body),
                "api_key=%s&service_code=heating&description=no+heating%%2C+" SURNAME
                "+%%2B77015550199&district=Esil&street=Kenesary&"
                "house=12&apartment=" APARTMENT "&lat=51.123456&long="
                "71.456789&first_name=Aigerim&last_name=" SURNAME
                "&phone=%%2B77015550199&media_url=https%%3A%%2F%%2Fimg."
                "example%%2Frad.jpg",
                key_pub);
        p_post(body, id_heat);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=lift&description=the+lift+is+stuck&"
                 "district=Esil&street=Kenesary&house=12&apartment=" APARTMENT
                 "&media_url=https%%3A%%2F%%2Fimg.example%%2F"
                 "lift.jpg&phone=%%2B77015550199",
                 key_pub);
        p_post(body, id_lift);
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=water_supply&description=leak+"
                 "in+my+flat&address_string=Abaya+1%%2C+" APARTMENT
                 "&lat=51.123456&long=71.456789",
                 key_pub);
        p_post(body, id_free);
        /* what the router and task sink would have written (the real
         * tables of the migrations) */
        p_sql("INSERT INTO organisations (id, kind, name) VALUES "
              "('ksk-priv', 'ksk', 'KSK Privacy')",
              NULL);
        p_sql("INSERT INTO buildings (id, district, street, house, apartments, "
              "ksk_id, lat, long) VALUES ('b-priv-1', 'Esil', 'Kenesary', '12', "
              "40, 'ksk-priv', 51.1, 71.4)",
              NULL);
        p_sql("INSERT INTO tasks (complaint_id, attempt, org_id, org_kind, "
              "building_id, category, route_reason, status, received_at, "
              "routed_at, due_at, status_note, description, address, contact, "
              "updated_at, complaint) VALUES ($1, 1, 'ksk-priv', 'ksk', "
              "'b-priv-1', 'heating', 'building', 'resolved', now(), now(), "
              "now() + interval '1 day', '" NOTE "', 'x', 'x', "
              "'{\"phone\": \"" PHONE "\"}', now(), '{}')",
              id_heat);
        return 0;
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
                cmocka_unit_test(test_public_by_default),
                cmocka_unit_test(test_unmatched_address),
                cmocka_unit_test(test_public_service),
                cmocka_unit_test(test_read_private_scope),
                cmocka_unit_test(test_refused_configuration),
                cmocka_unit_test(test_fixmystreet_shapes),
                cmocka_unit_test(test_many_ids),
                cmocka_unit_test(test_updates),
                cmocka_unit_test(test_votes),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
