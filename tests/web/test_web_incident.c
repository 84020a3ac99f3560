/*
 * test_web_incident.c - incidents on komek-web (docs/incidents.md), on
 * test_web's fixture: three open tasks of staff.a's organisation made
 * one building's complaints of one category within the hour (the test
 * owns the schema), then
 *   - /inbox shows the open incidents first (before the task table),
 *     this one with its three tasks;
 *   - another organisation's staff gets 404 for its page and its resolve;
 *   - a resolve without a note is refused (409), nothing changed; so is
 *     one with a note every task refuses (a control character);
 *   - one note resolves the three: each task resolved with it, one
 *     task_outbox row each with the incident_id, one task-events message
 *     each on the topic (published by komek-web); the incident is then
 *     no longer open;
 *   - the analysts' dashboard lists the open incidents;
 * test_web_incident_cache: the dashboard's list is at most
 *   web.live_cache_s old (web_cache), not computed again per page: with a
 *   long one it still shows the count it read after the database changed;
 *   a server with live_cache_s = 0 shows the new count;
 * test_web_pg_jit: every connection komek-web's pages use has jit = off,
 *   also one made anew after its server process was ended (web_db.c: JIT
 *   compiling the incidents views took seconds per inbox).
 * Run last: they change tasks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "km_test.h"
#include "wtest.h"
#include "../../web/web.h" /* web_pg_get: web/web_db.c is linked in */

struct inc_events {
        const char *incident;
        int n, tagged;
};

static int inc_collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct inc_events *ev = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);
        const char *id = json_string_value(json_object_get(o, "incident_id"));

        ev->n++;
        ev->tagged += id && !strcmp(id, ev->incident) &&
                      !strcmp(json_string_value(json_object_get(o, "event")),
                              "resolved");
        json_decref(o);
        return 0;
}

void test_web_incident(void **state)
{
        struct wc_jar a = {0}, b = {0}, n = {0};
        struct wc_resp r;
        struct inc_events ev = {0};
        char inc[64], path[128], tok[128], body[512];
        long before;
        const char *pi, *pt;

        (void)state;
        /* three open tasks of t.org: one building, one category, 10
         * minutes apart an hour ago */
        w_sql("WITH x AS (SELECT complaint_id, row_number() OVER (ORDER BY "
              "received_at, complaint_id) AS k FROM tasks WHERE org_id = $1 "
              "AND status = 'open' AND building_id IS NOT NULL ORDER BY "
              "received_at, complaint_id LIMIT 3), f AS (SELECT t.building_id, "
              "t.category FROM tasks t JOIN x USING (complaint_id) WHERE x.k "
              "= 1) UPDATE tasks t SET building_id = f.building_id, category "
              "= 'heating', received_at = now() - interval '1 hour' + "
              "x.k * interval '10 minutes' FROM x, f WHERE t.complaint_id = "
              "x.complaint_id",
              t.org);
        assert_int_equal(wt_q(&t,
                              "SELECT incident_id FROM incidents WHERE org_id "
                              "= $1 AND status = 'open' AND first_at > now() "
                              "- interval '2 hours' AND tasks = 3",
                              t.org, inc, sizeof(inc)),
                         0);

        /* the inbox: open incidents first, each with its tasks */
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        snprintf(path, sizeof(path), "data-incident=\"%s\"", inc);
        pi = strstr(r.body, path);
        pt = strstr(r.body, "id=\"tasks\"");
        assert_non_null(pi);
        assert_non_null(strstr(r.body, "id=\"incidents\""));
        assert_true(pt == NULL || pi < pt);
        assert_true(w_number(r.body, "incident-count") >= 1);
        {
                int k = 0;

                for (const char *q = pi;
                     (q = strstr(q + 1, "data-incident-task=")) &&
                     (pt == NULL || q < pt);)
                        k++;
                assert_true(k >= 3);
        }
        wc_free(&r);
        snprintf(path, sizeof(path), "/incidents/%s", inc);
        assert_int_equal(w_req(&a, "GET", path, NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "id=\"resolve-incident\""));
        wc_free(&r);

        /* another organisation's staff: not found, by page and by form */
        assert_int_equal(w_login(&b, "staff.b", PW_B), 303);
        assert_int_equal(w_get(&b, path), 404);
        w_csrf_of(&b, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/incidents/%s/resolve", inc);
        snprintf(body, sizeof(body), "csrf=%s&note=x", tok);
        assert_int_equal(w_post(&b, path, body, NULL), 404);

        /* no note: refused; then one note for the three */
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(body, sizeof(body), "csrf=%s&note=", tok);
        assert_int_equal(w_post(&a, path, body, NULL), 409);
        before = wt_qn(&t,
                       "SELECT count(*) FROM task_outbox WHERE topic = "
                       "'task_events'",
                       NULL);
        /* a note every task refuses (a control character): 409 with the
         * reason, nothing changed (km_incident_resolve: all refused) */
        snprintf(body, sizeof(body), "csrf=%s&note=a%%01b", tok);
        assert_int_equal(w_post(&a, path, body, NULL), 409);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM task_outbox WHERE topic = "
                               "'task_events'",
                               NULL),
                         before);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM incident_tasks WHERE "
                               "incident_id = $1::uuid AND status = 'open'",
                               inc),
                         3);
        snprintf(body, sizeof(body),
                 "csrf=%s&note=%%D0%%BA%%D0%%BE%%D1%%82%%D0%%B5%%D0%%BB%%D1%%8C"
                 "%%D0%%BD%%D0%%B0%%D1%%8F+ok",
                 tok);
        assert_int_equal(w_post(&a, path, body, NULL), 303);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks t JOIN task_outbox "
                               "o USING (complaint_id) WHERE o.event = "
                               "'resolved' AND o.payload::json->>'incident_id' "
                               "= $1 AND t.status = 'resolved' AND "
                               "t.status_note = 'котельная ok'",
                               inc),
                         3);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM task_outbox WHERE topic = "
                               "'task_events'",
                               NULL),
                         before + 3);
        assert_int_equal(rt_wait_count(&t.rt,
                                       "SELECT count(*) FROM task_outbox WHERE "
                                       "published_at IS NULL",
                                       0, 60000),
                         0);
        ev.incident = inc;
        /* all published (acknowledged by the broker): read to the end */
        assert_int_equal(km_test_read_to_end(&t.rt.conf, t.rt.events,
                                             "read_committed", 60000,
                                             inc_collect, &ev),
                         before + 3);
        assert_int_equal(ev.tagged, 3);
        assert_int_equal(ev.n, before + 3);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM incidents WHERE "
                               "incident_id = $1::uuid AND status = 'open'",
                               inc),
                         0);

        /* the analysts' dashboard: the open incidents of the city */
        assert_int_equal(w_login(&n, "analyst1", PW_N), 303);
        assert_int_equal(w_req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        assert_int_equal(w_number(r.body, "incident-count"),
                         wt_qn(&t,
                               "SELECT least(count(*), 200) FROM incidents "
                               "WHERE status = 'open'",
                               NULL));
        wc_free(&r);
}

/* The dashboard's open incidents come from web_cache (web.live_cache_s). */
void test_web_incident_cache(void **state)
{
        const char *const hold[] = {"--set", "web.live_cache_s=3600", NULL};
        const char *const live[] = {"--set", "web.live_cache_s=0", NULL};
        const char *count = "SELECT least(count(*), 200) FROM incidents "
                            "WHERE status = 'open'";
        struct wc_jar n = {0};
        struct wc_resp r;
        int port = t.port, pid = t.web_pid;
        long before, after;

        (void)state;
        assert_int_equal(wt_web_start(&t, hold), 0);
        assert_int_equal(w_login(&n, "analyst1", PW_N), 303);
        assert_int_equal(w_req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        before = w_number(r.body, "incident-count");
        wc_free(&r);
        assert_int_equal(before, wt_qn(&t, count, NULL));
        /* a new incident of the other organisation: three open tasks of
         * one building and category within the hour */
        w_sql("WITH x AS (SELECT complaint_id, row_number() OVER (ORDER BY "
              "received_at, complaint_id) AS k FROM tasks WHERE org_id = $1 "
              "AND status = 'open' AND building_id IS NOT NULL ORDER BY "
              "received_at, complaint_id LIMIT 3), f AS (SELECT t.building_id "
              "FROM tasks t JOIN x USING (complaint_id) WHERE x.k = 1) UPDATE "
              "tasks t SET building_id = f.building_id, category = "
              "'electricity', received_at = now() - interval '50 minutes' + "
              "x.k * interval '10 minutes' FROM x, f WHERE t.complaint_id = "
              "x.complaint_id",
              t.other);
        after = wt_qn(&t, count, NULL);
        assert_true(after != before);
        /* served from memory: the count read first */
        assert_int_equal(w_req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        assert_int_equal(w_number(r.body, "incident-count"), before);
        wc_free(&r);
        assert_int_equal(wt_web_stop(&t), 0);

        assert_int_equal(wt_web_start(&t, live), 0);
        assert_int_equal(w_login(&n, "analyst1", PW_N), 303);
        assert_int_equal(w_req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        assert_int_equal(w_number(r.body, "incident-count"), after);
        wc_free(&r);
        assert_int_equal(wt_web_stop(&t), 0);
        t.port = port;
        t.web_pid = pid;
}

/* SHOW jit on conn: "on" or "off" into v. */
static void jit_of(PGconn *conn, char *v, size_t len)
{
        PGresult *res = NULL;
        char err[256];

        if (km_pg_exec(conn, "SHOW jit", 0, NULL, &res, err, sizeof(err)))
                fail_msg("SHOW jit: %s", err);
        snprintf(v, len, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
}

void test_web_pg_jit(void **state)
{
        struct km_pgpool pool;
        char err[256], v[16], pid[16];
        PGconn *conn, *other;
        PGresult *res = NULL;
        const char *p[1] = {pid};
        int first, gone = 0;

        (void)state;
        km_pgpool_init(&pool, "test-web-jit", t.rt.conninfo, NULL, 1);
        conn = web_pg_get(&pool, err, sizeof(err));
        if (conn == NULL)
                fail_msg("web_pg_get: %s", err);
        jit_of(conn, v, sizeof(v));
        assert_string_equal(v, "off");
        first = PQbackendPID(conn);
        km_pgpool_put_conn(&pool, conn);

        /* its server process ended: the next query fails, the one after
         * gets a connection made anew, with jit = off again */
        other = km_pg_connect(t.rt.conninfo, "test-web-jit-kill", 10, err,
                              sizeof(err));
        assert_non_null(other);
        snprintf(pid, sizeof(pid), "%d", first);
        assert_int_equal(km_pg_exec(other,
                                    "SELECT pg_terminate_backend($1::int)", 1,
                                    p, NULL, err, sizeof(err)),
                         0);
        for (int i = 0; i < 100 && !gone; i++) { /* deadline 10 s */
                struct timespec ts = {0, 100 * 1000000L};

                assert_int_equal(km_pg_exec(other,
                                            "SELECT count(*) FROM "
                                            "pg_stat_activity WHERE pid = "
                                            "$1::int",
                                            1, p, &res, err, sizeof(err)),
                                 0);
                gone = strcmp(PQgetvalue(res, 0, 0), "0") == 0;
                PQclear(res);
                res = NULL;
                if (!gone)
                        nanosleep(&ts, NULL); /* polling the process list */
        }
        assert_true(gone);
        PQfinish(other);
        conn = web_pg_get(&pool, err, sizeof(err));
        assert_non_null(conn);
        assert_int_not_equal(
                km_pg_exec(conn, "SELECT 1", 0, NULL, NULL, err, sizeof(err)),
                0);
        km_pgpool_put_conn(&pool, conn);
        conn = web_pg_get(&pool, err, sizeof(err));
        if (conn == NULL)
                fail_msg("web_pg_get again: %s", err);
        assert_int_not_equal(PQbackendPID(conn), first);
        jit_of(conn, v, sizeof(v));
        assert_string_equal(v, "off");
        km_pgpool_put_conn(&pool, conn);
        km_pgpool_destroy(&pool);
}
