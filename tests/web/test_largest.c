/*
 * test_largest.c - the largest valid complaint through every stage
 * (issue 11): komek-intake and komek-gateway -> komek-router ->
 * komek-tasksink -> komek-analytics -> komek-report -> komek-web's inbox
 * -> the gateway's Open311 GET.  Every field at its limit, in four
 * versions: every string filled to its maximum number of code points with
 * 1-, 2-, 3- or 4-byte UTF-8 characters (the 1-byte one made of the
 * characters JSON and HTML escape, with newlines and tabs where the model
 * allows them), media_urls at their maximum count and length.  Each
 * arrives whole, byte for byte, wherever the field is kept or shown:
 * nothing is dead-lettered, cut or skipped on the way.
 *
 * The limits are the complaint model's (common/km_complaint.c): the
 * description limits.max_description_chars code points (4,000), address
 * district 64, street 128, house 16, apartment 16, text 256, contact name
 * 128, phone 32, email 128, external_id 128, source 64 (a token, ASCII),
 * at most 10 media_urls of 512 bytes.
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
#include <time.h>

#include "http_client.h"
#include "km_test.h"
#include "km_util.h"
#include "wclient.h"
#include "wt.h"

#define NW 4 /* character widths 1..4 */
static struct wt t;
static char building[64], votes[160];
static json_t *want[2 * NW]; /* [w-1]: through intake, [NW+w-1]: gateway */
static char ids[2 * NW][40];
static char *first[NW], *last[NW]; /* the gateway's first_name, last_name */
static int pids[8], npids;

/* n code points of width w; multiline adds newline and tab (1-byte). */
static char *fill(int n, int w, int multiline)
{
        static const char *const pat[NW + 1][3] = {
                {NULL},
                {"<&\"'\\/ A", "<&\"'\\\n\t/ A", NULL},
                {"\xd0\xb6", "\xd3\x99", NULL},                 /* ж ә */
                {"\xe2\x82\xac", "\xe4\xb8\xad", NULL},         /* € 中 */
                {"\xf0\x9f\x98\x80", "\xf0\x9d\x84\x9e", NULL}, /* 😀 𝄞 */
        };
        char *s = km_xmalloc((size_t)n * 4 + 1), *p = s;

        for (int i = 0; i < n; i++) {
                if (w == 1) {
                        const char *set = pat[1][multiline ? 1 : 0];

                        *p++ = set[i % strlen(set)];
                } else {
                        const char *c = pat[w][i % 2];

                        memcpy(p, c, (size_t)w);
                        p += w;
                }
        }
        *p = '\0';
        return s;
}

static json_t *jfill(int n, int w, int multiline)
{
        char *s = fill(n, w, multiline);
        json_t *j = json_string(s);

        free(s);
        return j;
}

static json_t *media(int count, int w)
{
        json_t *a = json_array();

        for (int i = 0; i < count; i++) {
                char u[513];
                int n = snprintf(u, sizeof(u),
                                 "https://media.example.kz/w%d/%d/", w, i);

                memset(u + n, 'a' + i, sizeof(u) - 1 - (size_t)n);
                u[512] = '\0';
                json_array_append_new(a, json_string(u));
        }
        return a;
}

/* The complaint of width w as komek-intake gets it. */
static json_t *big(int w, const char *ts)
{
        char src[65];

        snprintf(src, sizeof(src), "largest-w%d-", w);
        memset(src + strlen(src), 'x', 64 - strlen(src));
        src[64] = '\0';
        return json_pack(
                "{s:s,s:o,s:s,s:s,s:s,s:o,s:{s:o,s:o,s:o,s:o,s:o},s:s,s:f,s:f,"
                "s:{s:o,s:o,s:o},s:o,s:b}",
                "source", src, "external_id", jfill(128, w, 0), "channel",
                "telegram", "received_at", ts, "category", "heating",
                "description", jfill(4000, w, 1), "address", "district",
                jfill(64, w, 0), "street", jfill(128, w, 0), "house",
                jfill(16, w, 0), "apartment", jfill(16, w, 0), "text",
                jfill(256, w, 0), "building_id", building, "lat", 51.1282,
                "long", 71.4306, "contact", "name", jfill(128, w, 0), "phone",
                jfill(32, w, 0), "email", jfill(128, w, 0), "media_urls",
                media(10, w), "emergency", 1);
}

/* HTML as komek-web escapes it (web/web_buf.c: & < > " ' as
 * entities, other control characters than newline shown as a space). */
static char *html(const char *s)
{
        char *o = km_xmalloc(strlen(s) * 6 + 1), *p = o;

        for (; *s; s++) {
                const char *e = NULL;

                switch (*s) {
                case '&':
                        e = "&amp;";
                        break;
                case '<':
                        e = "&lt;";
                        break;
                case '>':
                        e = "&gt;";
                        break;
                case '"':
                        e = "&quot;";
                        break;
                case '\'':
                        e = "&#39;";
                        break;
                default:
                        *p++ = ((unsigned char)*s < 0x20 && *s != '\n') ? ' '
                                                                        : *s;
                        continue;
                }
                p = stpcpy(p, e);
        }
        *p = '\0';
        return o;
}

static const char *sv(const json_t *o, const char *path)
{
        char k[32];
        const char *dot = strchr(path, '.');

        if (dot) {
                snprintf(k, sizeof(k), "%.*s", (int)(dot - path), path);
                return sv(json_object_get(o, k), dot + 1);
        }
        return json_string_value(json_object_get(o, path));
}

/* POST the width-w complaint as an Open311 client would; @returns the
 * HTTP status, its id in id. */
static int gw_post(int port, const char *key, int w, char *id, size_t idlen)
{
        json_t *j = want[NW + w - 1], *a = json_object_get(j, "address");
        const char *names[] = {
                "api_key",    "service_code", "description", "address_string",
                "address_id", "district",     "street",      "house",
                "apartment",  "first_name",   "last_name",   "phone",
                "email",      "media_url",    "external_id", "lat",
                "long",       "emergency"};
        const char *vals[18];
        char lat[32], lon[32], *body;
        const char *p;
        size_t cap = 1 << 17, len = 0;
        struct http_resp r;
        int st;

        snprintf(lat, sizeof(lat), "%.4f",
                 json_real_value(json_object_get(j, "lat")));
        snprintf(lon, sizeof(lon), "%.4f",
                 json_real_value(json_object_get(j, "long")));
        vals[0] = key, vals[1] = sv(j, "category"),
        vals[2] = sv(j, "description");
        vals[3] = sv(a, "text"), vals[4] = building,
        vals[5] = sv(a, "district");
        vals[6] = sv(a, "street"), vals[7] = sv(a, "house");
        vals[8] = sv(a, "apartment"), vals[9] = first[w - 1],
        vals[10] = last[w - 1];
        vals[11] = sv(j, "contact.phone"), vals[12] = sv(j, "contact.email");
        vals[13] = json_string_value(
                json_array_get(json_object_get(j, "media_urls"), 0));
        vals[14] = sv(j, "external_id"), vals[15] = lat, vals[16] = lon;
        vals[17] = "true";
        body = km_xmalloc(cap);
        for (int i = 0; i < 18; i++) {
                len += (size_t)snprintf(body + len, cap - len,
                                        "%s%s=", i ? "&" : "", names[i]);
                for (p = vals[i]; *p; p++)
                        len += (size_t)snprintf(body + len, cap - len, "%%%02X",
                                                (unsigned char)*p);
        }
        st = http_do(port, "POST", "/requests.json",
                     "application/x-www-form-urlencoded", body, len, &r);
        free(body);
        if (st)
                return -1;
        st = r.status;
        if (st == 201) {
                json_t *o = json_loads(r.body, 0, NULL);
                const char *s = sv(json_array_get(o, 0), "service_request_id");

                snprintf(id, idlen, "%s", s ? s : "");
                json_decref(o);
        } else {
                fprintf(stderr, "gateway %d: %.300s\n", st, r.body);
        }
        http_resp_free(&r);
        return st;
}

static int wait_port(const char *pf)
{
        int64_t deadline = km_now_ms() + 20000;
        int port = 0;

        while (km_now_ms() < deadline && port == 0) {
                FILE *fp = fopen(pf, "r");
                struct timespec ts = {0, 50 * 1000000L};

                if (fp) {
                        if (fscanf(fp, "%d", &port) != 1)
                                port = 0;
                        fclose(fp);
                }
                if (port == 0)
                        nanosleep(&ts, NULL); /* polling for the port file */
        }
        return port;
}

static void test_largest_everywhere(void **state)
{
        char ts[32], file[512], pf[512], key[128], week[16], sg[200], rg[200];
        char txn[200], ag[200], vt[200], *out = NULL, *cmd;
        const char *rargs[] = {"--set", rg,      "--set",
                               txn,     "--set", "router.batch_ms=100",
                               NULL};
        const char *sargs[] = {"--set", sg, NULL};
        const char *aargs[] = {"--set", ag,      "--set",
                               vt,      "--set", "analytics.batch_ms=100",
                               NULL};
        const char *gargs[] = {"--port", "0", "--port-file", pf, NULL};
        time_t now = time(NULL), local = now + 5 * 3600;
        struct tm tm;
        FILE *fp;
        int port;

        (void)state;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        gmtime_r(&local, &tm); /* komek's weeks are in UTC+5 */
        strftime(week, sizeof(week), "%G-W%V", &tm);
        for (int w = 1; w <= NW; w++) {
                want[w - 1] = big(w, ts);
                want[NW + w - 1] = big(w, ts);
        }

        /* 1. komek-intake reads the four from a file */
        snprintf(file, sizeof(file), "%s/largest.jsonl", t.rt.datadir);
        fp = fopen(file, "w");
        assert_non_null(fp);
        for (int w = 0; w < NW; w++) {
                char *line = json_dumps(want[w], JSON_COMPACT);

                fprintf(fp, "%s\n", line);
                free(line);
        }
        fclose(fp);
        {
                const char *iargs[] = {file, NULL};

                assert_int_equal(rt_run(&t.rt, "intake", iargs, NULL), 0);
        }

        /* 2. komek-gateway takes the four as Open311 POSTs */
        cmd = km_xasprintf(
                "KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys --config %s/deploy/komek.conf "
                "--log-level warn add --source largest-gw "
                "--rate 1000 --scope read_private",
                t.rt.conninfo, getenv("KOMEK_BIN"), getenv("KOMEK_ROOT"));
        fp = popen(cmd, "r");
        free(cmd);
        assert_non_null(fp);
        assert_non_null(fgets(key, sizeof(key), fp));
        assert_int_equal(pclose(fp), 0);
        key[strcspn(key, "\n")] = '\0';
        snprintf(pf, sizeof(pf), "%s/gateway.port", t.rt.datadir);
        pids[npids++] = rt_spawn(&t.rt, "gateway", gargs, NULL, 0);
        port = wait_port(pf);
        assert_true(port > 0);
        for (int w = 1; w <= NW; w++) {
                json_t *j = want[NW + w - 1];

                /* what the gateway makes of the form: its key's source and
                 * channel, received now, one media_url */
                json_object_set_new(j, "source", json_string("largest-gw"));
                json_object_set_new(j, "channel", json_string("web"));
                /* contact.name is first_name + " " + last_name: 128 */
                first[w - 1] = fill(63, w, 0);
                last[w - 1] = fill(64, w, 0);
                {
                        char *nm = km_xasprintf("%s %s", first[w - 1],
                                                last[w - 1]);

                        json_object_set_new(json_object_get(j, "contact"),
                                            "name", json_string(nm));
                        free(nm);
                }
                json_array_remove(json_object_get(j, "media_urls"), 9);
                while (json_array_size(json_object_get(j, "media_urls")) > 1)
                        json_array_remove(json_object_get(j, "media_urls"), 1);
                assert_int_equal(
                        gw_post(port, key, w, ids[NW + w - 1], sizeof(ids[0])),
                        201);
        }

        /* 3. router and sink: one task each, every field whole */
        snprintf(rg, sizeof(rg), "router.group=%s-router", t.rt.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt",
                 t.rt.schema);
        snprintf(sg, sizeof(sg), "tasksink.group=%s-sink", t.rt.schema);
        pids[npids++] = rt_spawn(&t.rt, "router", rargs, NULL, 0);
        pids[npids++] = rt_spawn(&t.rt, "tasksink", sargs, NULL, 0);
        assert_int_equal(rt_wait_count(&t.rt, "SELECT count(*) FROM tasks",
                                       2 * NW, 60000),
                         2 * NW);
        for (int i = 0; i < 2 * NW; i++) {
                const char *ext = sv(want[i], "external_id");
                json_t *got, *contact, *v;
                const char *k;

                {
                        const char *params[2] = {ext, sv(want[i], "source")};
                        PGresult *res = PQexecParams(
                                t.rt.conn,
                                "SELECT complaint::text, description, "
                                "contact::text, address, complaint_id, org_id "
                                "FROM tasks WHERE complaint->>'external_id' = $1 "
                                "AND complaint->>'source' = $2",
                                2, NULL, params, NULL, NULL, 0);

                        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
                        assert_int_equal(PQntuples(res), 1);
                        got = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
                        assert_non_null(got);
                        json_object_foreach (want[i], k, v) {
                                if (strcmp(k, "received_at") == 0 && i >= NW)
                                        continue; /* the gateway's clock */
                                if (!json_equal(v, json_object_get(got, k)))
                                        fail_msg(
                                                "complaint %d: field %s differs "
                                                "in tasks.complaint",
                                                i, k);
                        }
                        assert_string_equal(PQgetvalue(res, 0, 1),
                                            sv(want[i], "description"));
                        contact = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
                        assert_true(json_equal(
                                contact, json_object_get(want[i], "contact")));
                        assert_string_equal(PQgetvalue(res, 0, 3),
                                            sv(want[i], "address.text"));
                        assert_string_equal(PQgetvalue(res, 0, 5), t.org);
                        if (i < NW)
                                snprintf(ids[i], sizeof(ids[i]), "%s",
                                         PQgetvalue(res, 0, 4));
                        else
                                assert_string_equal(ids[i],
                                                    PQgetvalue(res, 0, 4));
                        json_decref(contact);
                        json_decref(got);
                        PQclear(res);
                }
        }
        /* nothing was dead-lettered on the way */
        /* (the committed view read to its end: proved, not waited for) */
        assert_int_equal(rt_committed_to_end(&t.rt, t.rt.dlq, 30000), 0);

        /* 4. komek-analytics counts each, without its text */
        snprintf(ag, sizeof(ag), "analytics.group=%s-an", t.rt.schema);
        snprintf(vt, sizeof(vt), "topics.votes=%s", votes);
        pids[npids++] = rt_spawn(&t.rt, "analytics", aargs, NULL, 0);
        assert_int_equal(rt_wait_count(&t.rt,
                                       "SELECT count(*) FROM an_tasks a JOIN "
                                       "an_complaints c USING (complaint_id)",
                                       2 * NW, 60000),
                         2 * NW);
        for (int i = 0; i < 2 * NW; i++) {
                const char *params[5] = {ids[i], sv(want[i], "source"),
                                         sv(want[i], "channel"), building,
                                         t.org};
                PGresult *res = PQexecParams(
                        t.rt.conn,
                        "SELECT count(*) FROM an_complaints c JOIN an_tasks a "
                        "USING (complaint_id) WHERE complaint_id = $1 AND "
                        "c.source = $2 AND c.channel = $3 AND c.building_id = $4 "
                        "AND c.category = 'heating' AND c.emergency AND a.org_id "
                        "= $5",
                        5, NULL, params, NULL, NULL, 0);

                assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
                assert_string_equal(PQgetvalue(res, 0, 0), "1");
                PQclear(res);
        }

        /* 5. komek-report: the week counts all eight */
        {
                const char *rpargs[] = {"--week", week, "--format", "json",
                                        NULL};
                json_t *rp, *c;
                size_t i;
                long heating = -1;

                assert_int_equal(rt_run(&t.rt, "report", rpargs, &out), 0);
                rp = json_loads(out, 0, NULL);
                assert_non_null(rp);
                assert_int_equal(
                        json_integer_value(json_object_get(rp, "count")),
                        2 * NW);
                json_array_foreach (json_object_get(rp, "categories"), i, c)
                        if (strcmp(sv(c, "code"), "heating") == 0)
                                heating = (long)json_integer_value(
                                        json_object_get(c, "count"));
                assert_int_equal(heating, 2 * NW);
                /* and never the residents' text */
                assert_null(strstr(out, sv(want[3], "description")));
                assert_null(strstr(out, sv(want[3], "contact.name")));
                json_decref(rp);
                free(out);
                out = NULL;
        }

        /* 6. komek-web: the KSK's staff see every field whole */
        {
                struct wc_jar jar = {0};
                struct wc_resp r;
                char tok[128], body[512], path[128];

                assert_int_equal(wt_user(&t, "largest.staff", t.org,
                                         "largest-staff-pw-1"),
                                 0);
                assert_int_equal(wt_web_start(&t, NULL), 0);
                assert_int_equal(
                        wc_do(t.port, "GET", "/login", NULL, &jar, NULL, &r),
                        0);
                assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
                wc_free(&r);
                snprintf(
                        body, sizeof(body),
                        "csrf=%s&login=largest.staff&password=largest-staff-pw-1",
                        tok);
                assert_int_equal(
                        wc_do(t.port, "POST", "/login", body, &jar, NULL, &r),
                        0);
                assert_int_equal(r.status, 303);
                wc_free(&r);
                for (int i = 0; i < 2 * NW; i++) {
                        const char *fields[] = {"description", "address.text",
                                                "contact.name", "contact.phone",
                                                "contact.email"};

                        snprintf(path, sizeof(path), "/tasks/%s", ids[i]);
                        assert_int_equal(wc_do(t.port, "GET", path, NULL, &jar,
                                               NULL, &r),
                                         0);
                        assert_int_equal(r.status, 200);
                        for (int f = 0; f < 5; f++) {
                                char *h = html(sv(want[i], fields[f]));

                                if (strstr(r.body, h) == NULL)
                                        fail_msg(
                                                "web: task %d: %s not shown whole",
                                                i, fields[f]);
                                free(h);
                        }
                        wc_free(&r);
                }
                assert_int_equal(wt_web_stop(&t), 0);
        }

        /* 7. the gateway's Open311 GET gives back what was posted */
        for (int w = 1; w <= NW; w++) {
                json_t *j = want[NW + w - 1], *o, *r0;
                struct http_resp r;
                char path[256];

                /* public: no description of a service not made public */
                snprintf(path, sizeof(path), "/requests/%s.json",
                         ids[NW + w - 1]);
                assert_int_equal(http_do(port, "GET", path, NULL, NULL, 0, &r),
                                 0);
                assert_int_equal(r.status, 200);
                assert_null(strstr(r.body, "\"description\":\""));
                http_resp_free(&r);
                /* a read_private key sees the whole record */
                snprintf(path, sizeof(path), "/requests/%s.json?api_key=%s",
                         ids[NW + w - 1], key);
                assert_int_equal(http_do(port, "GET", path, NULL, NULL, 0, &r),
                                 0);
                assert_int_equal(r.status, 200);
                o = json_loads(r.body, 0, NULL);
                r0 = json_array_get(o, 0);
                assert_non_null(r0);
                assert_string_equal(sv(r0, "service_request_id"),
                                    ids[NW + w - 1]);
                assert_string_equal(sv(r0, "description"),
                                    sv(j, "description"));
                assert_string_equal(sv(r0, "address"), sv(j, "address.text"));
                assert_string_equal(
                        sv(r0, "media_url"),
                        json_string_value(json_array_get(
                                json_object_get(j, "media_urls"), 0)));
                json_decref(o);
                http_resp_free(&r);
        }
}

static int setup(void **state)
{
        char org[64];

        (void)state;
        npids = 0;
        if (rt_setup(&t.rt, "largest") ||
            rt_gen(&t.rt,
                   "--seed 11 --buildings 60 --ksks 4 --lift-operators 1 "
                   "--complaints 1 --days 1 --votes 0") ||
            rt_import(&t.rt, NULL) ||
            km_test_topic(&t.rt.conf, votes, sizeof(votes), "largest-votes", 1))
                return -1;
        t.web_pid = -1;
        if (wt_q(&t,
                 "SELECT ksk_id || ' ' || id FROM buildings WHERE ksk_id "
                 "IS NOT NULL ORDER BY id LIMIT 1",
                 NULL, org, sizeof(org)))
                return -1;
        if (sscanf(org, "%63s %63s", t.org, building) != 2)
                return -1;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGTERM, 30000);
        for (int i = 0; i < 2 * NW; i++)
                json_decref(want[i]);
        for (int i = 0; i < NW; i++) {
                free(first[i]);
                free(last[i]);
                first[i] = last[i] = NULL;
        }
        wt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_largest_everywhere, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
