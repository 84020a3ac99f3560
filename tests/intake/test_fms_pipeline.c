/*
 * test_fms_pipeline.c - FixMyStreet's loop through the whole pipeline
 * (issues 21 and 16): komek-gateway, komek-router and komek-tasksink
 * running against the real broker and a migrated schema with a generated
 * directory.  A send and its resend with the same attribute[fixmystreet_id]
 * (no external_id) are one complaint: one message on the complaints
 * topic, one task (one routing attempt) at the building's KSK.  The KSK
 * resolves it with komek-inbox; the resident disputes it through POST
 * /servicerequestupdates: the task is reopened at the same KSK and
 * exactly one `reopened` message is on the task-events topic; the updates
 * feed says FIXED then REOPEN.
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

#include "../routing/rt.h"
#include "http_client.h"
#include "km_id.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

#define FORM "application/x-www-form-urlencoded"

static struct rt t;
static int router = -1, sink = -1, gw = -1, port;
static char key[128], building[64], ksk[64];

static void p_val(const char *sql, const char *arg, char *out, size_t len)
{
        const char *p[1] = {arg};
        PGresult *res = NULL;
        char err[512];

        if (km_pg_exec(t.conn, sql, arg ? 1 : 0, p, &res, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
        snprintf(out, len, "%s", PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
}

/* Poll sql (one value, with arg) until it is want, within 60 s. */
static void p_wait(const char *sql, const char *arg, const char *want)
{
        int64_t deadline = km_now_ms() + 60000;
        char got[256] = "";
        struct timespec ts = {0, 100 * 1000000L};

        while (km_now_ms() < deadline) {
                p_val(sql, arg, got, sizeof(got));
                if (strcmp(got, want) == 0)
                        return;
                nanosleep(&ts, NULL); /* polling against a deadline */
        }
        fail_msg("%s [%s]: got \"%s\", want \"%s\"", sql, arg ? arg : "", got,
                 want);
}

/* POST a form; @returns the answer's first item's field k (a copy). */
static char *p_post(const char *path, const char *body, const char *k)
{
        struct http_resp r;
        char root[64];
        json_t *x;
        char *v;

        assert_int_equal(
                http_do(port, "POST", path, FORM, body, strlen(body), &r), 0);
        if (r.status != 201)
                fail_msg("POST %s: %d %s", path, r.status, r.body);
        x = http_xml_parse(r.body, root, sizeof(root));
        assert_non_null(x);
        v = km_xstrdup(
                json_string_value(json_object_get(json_array_get(x, 0), k)));
        json_decref(x);
        http_resp_free(&r);
        return v;
}

struct p_count {
        const char *field, *value, *event;
        int n;
};

static int p_count_cb(const rd_kafka_message_t *rkm, void *opaque)
{
        struct p_count *c = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *v = json_string_value(json_object_get(o, c->field));
        const char *ev = json_string_value(json_object_get(o, "event"));

        if (v && !strcmp(v, c->value) &&
            (c->event == NULL || (ev && !strcmp(ev, c->event))))
                c->n++;
        json_decref(o);
        return 0;
}

static void test_resend_and_dispute(void **state)
{
        char body[1024], *a, *b, *u, *out = NULL, st[64], want[128];
        const char *resolve[] = {"--org", ksk,      "resolve",
                                 NULL,    "--note", "radiators bled",
                                 NULL};
        struct p_count c = {"id", NULL, NULL, 0};
        struct http_resp r;
        json_t *j;
        int fixed = -1, reopen = -1;

        (void)state;
        snprintf(body, sizeof(body),
                 "api_key=%s&jurisdiction_id=astana&service_code=heating&"
                 "description=No+heating&address_id=%s&email=r%%40example.kz&"
                 "first_name=Aigerim&last_name=S&attribute%%5Bfixmystreet_id"
                 "%%5D=880001",
                 key, building);
        a = p_post("/requests.xml", body, "service_request_id");
        b = p_post("/requests.xml", body, "service_request_id");
        assert_string_equal(a, b);
        snprintf(want, sizeof(want), "%s 1 open", ksk);
        p_wait("SELECT org_id || ' ' || attempt || ' ' || status FROM tasks "
               "WHERE complaint_id = $1::uuid",
               a, want);
        /* both POSTs were answered 201, which the gateway sends only after
         * the broker's acknowledgement: the topic's end is final */
        c.value = a;
        assert_int_equal(km_test_read_to_end(&t.conf, t.complaints,
                                             "read_committed", 10000,
                                             p_count_cb, &c),
                         1);
        assert_int_equal(c.n, 1);
        p_val("SELECT count(*) FROM task_attempts WHERE complaint_id = "
              "$1::uuid",
              a, st, sizeof(st));
        assert_string_equal(st, "1");
        /* the KSK resolves it; the resident disputes it */
        resolve[3] = a;
        assert_int_equal(rt_run(&t, "inbox", resolve, &out), 0);
        free(out);
        snprintf(body, sizeof(body),
                 "api_key=%s&updated_datetime=2026-12-02T18%%3A30%%3A00Z&"
                 "service_request_id=%s&status=REOPEN&description=Still+cold"
                 "&last_name=S&first_name=Aigerim&email=r%%40example.kz&"
                 "update_id=990001",
                 key, a);
        u = p_post("/servicerequestupdates.xml", body, "update_id");
        snprintf(want, sizeof(want), "%s reopened", ksk);
        p_wait("SELECT org_id || ' ' || status FROM tasks WHERE complaint_id "
               "= $1::uuid",
               a, want);
        /* task events go through the outbox, a row marked published only
         * after the broker's acknowledgement: with none left, read to the
         * topic's end (resolved, reopened), no settle time */
        p_wait("SELECT count(*) FROM task_outbox WHERE published_at IS NULL",
               NULL, "0");
        {
                struct p_count e = {"complaint_id", a, "reopened", 0};

                assert_int_equal(km_test_read_to_end(&t.conf, t.events,
                                                     "read_committed", 10000,
                                                     p_count_cb, &e),
                                 2);
                assert_int_equal(e.n, 1);
        }
        assert_int_equal(http_do(port, "GET", "/servicerequestupdates.json",
                                 NULL, NULL, 0, &r),
                         0);
        assert_int_equal(r.status, 200);
        j = json_loads(r.body, 0, NULL);
        for (size_t i = 0; i < json_array_size(j); i++) {
                json_t *o = json_array_get(j, i);

                if (strcmp(json_string_value(
                                   json_object_get(o, "service_request_id")),
                           a))
                        continue;
                if (!strcmp(json_string_value(json_object_get(o, "status")),
                            "FIXED"))
                        fixed = (int)i;
                if (!strcmp(json_string_value(json_object_get(o, "status")),
                            "REOPEN")) {
                        reopen = (int)i;
                        assert_string_equal(json_string_value(json_object_get(
                                                    o, "update_id")),
                                            u);
                }
        }
        assert_true(fixed >= 0 && reopen > fixed);
        json_decref(j);
        http_resp_free(&r);
        free(a);
        free(b);
        free(u);
}

static int setup(void **state)
{
        char group[200], sgroup[200], txn[200], pf[600];
        const char *rargs[] = {"--set", group, "--set", txn, NULL};
        const char *sargs[] = {"--set", sgroup,
                               "--set", "tasksink.relay_age_ms=500",
                               "--set", "tasksink.relay_ms=200",
                               NULL};
        const char *gargs[] = {"--port", "0", "--port-file", pf, NULL};
        const char *kargs[] = {"add",    "--source", "fixmystreet",
                               "--rate", "100000",   NULL};
        char *out = NULL;
        int64_t deadline;

        (void)state;
        if (rt_setup(&t, "fmsp") ||
            rt_gen(&t, "--seed 7 --buildings 40 --ksks 4 --complaints 10 "
                       "--days 10") ||
            rt_import(&t, NULL))
                return -1;
        if (rt_run(&t, "keys", kargs, &out) != 0 || out == NULL)
                return -1;
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(out, "\n"), out);
        free(out);
        p_val("SELECT id FROM buildings WHERE ksk_id IS NOT NULL ORDER BY id "
              "LIMIT 1",
              NULL, building, sizeof(building));
        p_val("SELECT ksk_id FROM buildings WHERE id = $1", building, ksk,
              sizeof(ksk));
        if (!*building || !*ksk)
                return -1;
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        snprintf(pf, sizeof(pf), "%s/gateway.port", t.logdir);
        router = rt_spawn(&t, "router", rargs, NULL, 0);
        sink = rt_spawn(&t, "tasksink", sargs, NULL, 0);
        gw = rt_spawn(&t, "gateway", gargs, NULL, 0);
        if (router <= 0 || sink <= 0 || gw <= 0)
                return -1;
        deadline = km_now_ms() + 20000;
        while (port == 0 && km_now_ms() < deadline) {
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
        return port ? 0 : -1;
}

static int teardown(void **state)
{
        int r0 = gw > 0 ? km_test_wait(gw, SIGTERM, 30000) : 0;
        int r1 = router > 0 ? km_test_wait(router, SIGTERM, 30000) : 0;
        int r2 = sink > 0 ? km_test_wait(sink, SIGTERM, 30000) : 0;

        (void)state;
        rt_teardown(&t);
        return r0 == 0 && r1 == 0 && r2 == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resend_and_dispute),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
