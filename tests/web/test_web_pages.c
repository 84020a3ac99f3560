/*
 * test_web_pages.c - the pages of test_web (tests/web/test_web.c has the
 * fixture, the helpers and main): the inbox list, access control between
 * organisations and between staff and analysts, the changes and their
 * task-events messages, hostile text escaped and never logged, the
 * dashboard's figures and CSV against the fixture's facts.
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
#include "km_task.h"
#include "km_test.h"
#include "km_util.h"
#include "wtest.h"

void test_inbox_list(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;
        char want[8192], got[8192] = "", tmp[64];
        const char *p;

        (void)state;
        assert_int_equal(w_login(&jar, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&jar, "GET", "/inbox", NULL, NULL, &r), 200);
        /* overdue first, then by due time; only the organisation's */
        assert_int_equal(wt_q(&t,
                              "SELECT string_agg(complaint_id::text, ',' ORDER "
                              "BY due_at, complaint_id) FROM (SELECT * FROM "
                              "tasks WHERE org_id = $1 AND status IN ('open', "
                              "'acknowledged') ORDER BY due_at, complaint_id "
                              "LIMIT 50) s",
                              t.org, want, sizeof(want)),
                         0);
        for (p = strstr(r.body, "data-id=\""); p;
             p = strstr(p + 1, "data-id=\"")) {
                snprintf(tmp, sizeof(tmp), "%s%.36s", got[0] ? "," : "", p + 9);
                strncat(got, tmp, sizeof(got) - strlen(got) - 1);
        }
        assert_string_equal(got, want);
        assert_int_equal(w_number(r.body, "open-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE org_id = $1 "
                               "AND status IN ('open', 'acknowledged')",
                               t.org));
        assert_int_equal(w_number(r.body, "overdue-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE org_id = $1 "
                               "AND status IN ('open', 'acknowledged') AND "
                               "due_at < now()",
                               t.org));
        assert_true(w_number(r.body, "overdue-count") > 0);
        assert_non_null(strstr(r.body, "<tr class=\"overdue\" data-id"));
        wc_free(&r);
        /* page 2 exists when there are more */
        if (wt_qn(&t,
                  "SELECT count(*) FROM tasks WHERE org_id = $1 AND status IN "
                  "('open', 'acknowledged')",
                  t.org) > 50)
                assert_int_equal(w_get(&jar, "/inbox?page=2"), 200);
        assert_int_equal(w_get(&jar, "/inbox?page=-3"), 200);
}

void test_access_control(void **state)
{
        struct wc_jar a = {0}, n = {0};
        char other_id[64], mine[64], path[128], tok[128], body[256];

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_login(&n, "analyst1", PW_N), 303);
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY complaint_id LIMIT 1",
             t.other, other_id, sizeof(other_id));
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at DESC LIMIT 1",
             t.org, mine, sizeof(mine));
        /* another organisation's task: not found, like an unknown id */
        snprintf(path, sizeof(path), "/tasks/%s", other_id);
        assert_int_equal(w_get(&a, path), 404);
        assert_int_equal(
                w_get(&a, "/tasks/00000000-0000-4000-8000-000000000000"), 404);
        assert_int_equal(w_get(&a, "/tasks/not-a-uuid"), 404);
        assert_int_equal(w_get(&a, "/tasks/../inbox"), 404);
        snprintf(path, sizeof(path), "/tasks/%s", mine);
        assert_int_equal(w_get(&a, path), 200);
        snprintf(path, sizeof(path), "/tasks/%s/explode", mine);
        assert_int_equal(w_post(&a, path, "csrf=x", NULL), 403);
        /* a change of another organisation's task with a valid token */
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/resolve", other_id);
        snprintf(body, sizeof(body), "csrf=%s&note=done", tok);
        assert_int_equal(w_post(&a, path, body, NULL), 404);
        snprintf(path, sizeof(path), "/tasks/%s/ack", other_id);
        assert_int_equal(w_post(&a, path, body, NULL), 404);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'open'",
                      other_id),
                1);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM task_outbox WHERE "
                               "complaint_id = $1::uuid",
                               other_id),
                         0);
        /* staff and analysts: each their own pages */
        assert_int_equal(w_get(&a, "/dashboard"), 403);
        assert_int_equal(w_get(&a, "/dashboard/summary.csv"), 403);
        assert_int_equal(w_get(&n, "/inbox"), 403);
        snprintf(path, sizeof(path), "/tasks/%s", mine);
        assert_int_equal(w_get(&n, path), 403);
        w_csrf_of(&n, "/dashboard", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/ack", mine);
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_post(&n, path, body, NULL), 403);
        assert_int_equal(w_get(&n, "/"), 303);
        assert_int_equal(w_get(&n, "/dashboard/nope.csv"), 404);
        /* each route's methods (web_routes), with a valid token */
        assert_int_equal(w_post(&n, "/", body, NULL), 405);
        assert_int_equal(w_post(&n, "/dashboard", body, NULL), 405);
        assert_int_equal(w_post(&n, "/dashboard/summary.csv", body, NULL), 405);
        assert_int_equal(w_get(&n, "/logout"), 405);
        assert_int_equal(w_get(&n, "/dashboardx"), 404);
        assert_int_equal(w_get(&n, "/incidents/x"), 403);
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_post(&a, "/inbox", body, NULL), 405);
        assert_int_equal(w_post(&a, "/dashboard", body, NULL), 405);
        snprintf(path, sizeof(path), "/tasks/%s/ack", mine);
        assert_int_equal(w_get(&a, path), 404);
        snprintf(path, sizeof(path), "/tasks/%s", mine);
        assert_int_equal(w_post(&a, path, body, NULL), 404);
}

struct events {
        int n;
        char kinds[16][16];
        char ids[16][40];
};

static int collect(const rd_kafka_message_t *rkm, void *opaque)
{
        struct events *ev = opaque;
        json_t *o = json_loadb(rkm->payload, rkm->len, 0, NULL);

        if (o && ev->n < 16) {
                snprintf(ev->kinds[ev->n], sizeof(ev->kinds[0]), "%s",
                         json_string_value(json_object_get(o, "event")));
                snprintf(ev->ids[ev->n], sizeof(ev->ids[0]), "%s",
                         json_string_value(json_object_get(o, "complaint_id")));
        }
        if (o)
                ev->n++;
        json_decref(o);
        return 0;
}

void test_changes_exactly_once(void **state)
{
        struct wc_jar a = {0};
        struct wc_resp r;
        char x[64], y[64], path[128], tok[128], body[512], h[256];
        struct events ev;
        long before_events;

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' AND due_at < now() ORDER BY due_at LIMIT 1",
             t.org, x, sizeof(x));
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at LIMIT 1 OFFSET 1",
             t.org, y, sizeof(y));
        assert_string_not_equal(x, y);
        before_events = wt_qn(&t,
                              "SELECT count(*) FROM task_outbox WHERE topic = "
                              "'task_events'",
                              NULL);
        /* ack, then ack again (refused: 409, nothing written) */
        snprintf(path, sizeof(path), "/tasks/%s/ack", x);
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_req(&a, "POST", path, body, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)),
                            "/inbox?done=acknowledged");
        wc_free(&r);
        assert_int_equal(w_req(&a, "POST", path, body, NULL, &r), 409);
        assert_non_null(strstr(r.body, "id=\"error\""));
        wc_free(&r);
        /* resolve needs a note */
        snprintf(path, sizeof(path), "/tasks/%s/resolve", x);
        assert_int_equal(w_post(&a, path, body, NULL), 409);
        snprintf(body, sizeof(body), "csrf=%s&note=%s", tok,
                 "%D0%B7%D0%B0%D0%BC%D0%B5%D0%BD%D0%B8%D0%BB%D0%B8+%D0%BA%D1%80"
                 "%D0%B0%D0%BD%0D%0Aok");
        assert_int_equal(w_post(&a, path, body, NULL), 303);
        assert_int_equal(w_post(&a, path, body, NULL), 409); /* twice */
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'resolved' AND "
                      "status_note = E'заменили кран\\r\\nok'",
                      x),
                1);
        /* it left the open list */
        assert_int_equal(
                w_req(&a, "GET", "/inbox?done=resolved", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, x));
        assert_non_null(strstr(r.body, "id=\"done\""));
        wc_free(&r);
        /* reject: re-routed to triage, attempt 2 */
        snprintf(path, sizeof(path), "/tasks/%s/reject", y);
        snprintf(body, sizeof(body), "csrf=%s&reason=", tok);
        assert_int_equal(w_post(&a, path, body, NULL), 409);
        snprintf(body, sizeof(body),
                 "csrf=%s&reason=not+our+house&category="
                 "&building=",
                 tok);
        assert_int_equal(w_post(&a, path, body, NULL), 303);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM task_outbox WHERE "
                               "complaint_id = $1::uuid AND topic = 'dispatch' "
                               "AND org_id = 'triage' AND attempt = 2",
                               y),
                         1);
        /* three changes, three task-events rows, all published by komek-web */
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM task_outbox WHERE topic = "
                               "'task_events'",
                               NULL),
                         before_events + 3);
        assert_int_equal(rt_wait_count(&t.rt,
                                       "SELECT count(*) FROM task_outbox WHERE "
                                       "published_at IS NULL",
                                       0, 60000),
                         0);
        /* all published (acknowledged by the broker): read to the end */
        memset(&ev, 0, sizeof(ev));
        assert_int_equal(km_test_read_to_end(&t.rt.conf, t.rt.events,
                                             "read_committed", 60000, collect,
                                             &ev),
                         before_events + 3);
        {
                int nx = 0, ny = 0, acks = 0, res = 0, rej = 0;

                for (int i = 0; i < ev.n && i < 16; i++) {
                        nx += !strcmp(ev.ids[i], x);
                        ny += !strcmp(ev.ids[i], y);
                        acks += !strcmp(ev.ids[i], x) &&
                                !strcmp(ev.kinds[i], "acknowledged");
                        res += !strcmp(ev.ids[i], x) &&
                               !strcmp(ev.kinds[i], "resolved");
                        rej += !strcmp(ev.ids[i], y) &&
                               !strcmp(ev.kinds[i], "rejected");
                }
                assert_int_equal(nx, 2);
                assert_int_equal(acks, 1);
                assert_int_equal(res, 1);
                assert_int_equal(ny, 1);
                assert_int_equal(rej, 1);
        }
        assert_int_equal(ev.n, (int)before_events + 3);
}

void test_escaping(void **state)
{
        static const char evil[] =
                "<script>alert(\"x\")</script> \"quoted\" 'single' & "
                "<img src=x onerror=alert(1)>";
        struct wc_jar a = {0};
        struct wc_resp r;
        char id[64], path[128], tok[128], body[512], enc[400];

        (void)state;
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at LIMIT 1",
             t.org, id, sizeof(id));
        {
                const char *p[2] = {id, evil};
                char err[256];

                assert_int_equal(
                        km_pg_exec(
                                t.rt.conn,
                                "UPDATE tasks SET description = $2, address = "
                                "$2, contact = jsonb_build_object('name', "
                                "$2::text, "
                                "'phone', '+7 701 000 00 00') WHERE "
                                "complaint_id = $1::uuid",
                                2, p, NULL, err, sizeof(err)),
                        0);
        }
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "<img"));
        assert_non_null(strstr(r.body, "&lt;script&gt;"));
        wc_free(&r);
        snprintf(path, sizeof(path), "/tasks/%s", id);
        assert_int_equal(w_req(&a, "GET", path, NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "<img"));
        assert_null(strstr(r.body, "\"quoted\""));
        assert_non_null(strstr(r.body, "&lt;script&gt;alert(&quot;x&quot;)"
                                       "&lt;/script&gt; &quot;quoted&quot; "
                                       "&#39;single&#39; &amp; &lt;img"));
        assert_non_null(strstr(r.body, "+7 701 000 00 00"));
        wc_free(&r);
        /* a hostile note is kept as written and shown escaped */
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/resolve", id);
        snprintf(body, sizeof(body), "csrf=%s&note=%s", tok,
                 wc_urlenc(evil, enc, sizeof(enc)));
        assert_int_equal(w_post(&a, path, body, NULL), 303);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status_note LIKE '<script>%'",
                      id),
                1);
        snprintf(path, sizeof(path), "/tasks/%s", id);
        assert_int_equal(w_req(&a, "GET", path, NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "<img"));
        assert_null(strstr(r.body, "id=\"resolve\"")); /* no more forms */
        wc_free(&r);
        /* nothing of the resident's or the staff's text in the log */
        {
                FILE *fp = fopen(t.weblog, "r");
                char *log = km_xcalloc(1, 1 << 20);
                size_t n = fp ? fread(log, 1, (1 << 20) - 1, fp) : 0;

                assert_non_null(fp);
                fclose(fp);
                assert_true(n > 0);
                assert_null(strstr(log, "<script>"));
                assert_null(strstr(log, "+7 701"));
                assert_null(strstr(log, "заменили"));
                assert_null(strstr(log, PW_A));
                assert_non_null(strstr(log, "signed in: staff.a"));
                free(log);
        }
}

/* Complaints of the fixture in local days [monday + a, monday + b]. */
static long count_days(const char *extra, int a, int b, const char *arg)
{
        char *sql = km_xasprintf(
                "SELECT count(*) FROM an_complaints c LEFT JOIN an_tasks t USING "
                "(complaint_id) WHERE c.day BETWEEN to_date('%s', "
                "'IYYY-\"W\"IW') + %d AND to_date('%s', 'IYYY-\"W\"IW') + %d %s",
                t.week, a, t.week, b, extra);
        long n = wt_qn(&t, sql, arg);

        free(sql);
        return n;
}

void test_dashboard(void **state)
{
        struct wc_jar n = {0};
        struct wc_resp r;
        char path[256], h[256], dist[128], enc[256], line[512];
        long want, ytd_from;

        (void)state;
        assert_int_equal(w_login(&n, "analyst1", PW_N), 303);
        assert_int_equal(w_req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        assert_non_null(
                strstr(r.body, t.week)); /* the week of the latest data */
        assert_int_equal(w_number(r.body, "week-count"),
                         count_days("", 0, 6, NULL));
        assert_int_equal(w_number(r.body, "prev-count"),
                         count_days("", -7, -1, NULL));
        ytd_from = wt_qn(&t,
                         "SELECT to_date($1, 'IYYY-\"W\"IW') + 6 - "
                         "date_trunc('year', to_date($1, 'IYYY-\"W\"IW') + "
                         "6)::date",
                         t.week);
        assert_int_equal(w_number(r.body, "ytd-count"),
                         count_days("", -(int)ytd_from + 6, 6, NULL));
        assert_int_equal(w_number(r.body, "live-open"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE status IN "
                               "('open', 'acknowledged')",
                               NULL));
        assert_int_equal(w_number(r.body, "live-overdue"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE status IN "
                               "('open', 'acknowledged') AND due_at < now()",
                               NULL));
        assert_int_equal(w_number(r.body, "esc-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM escalations WHERE "
                               "(window_end AT TIME ZONE 'UTC' + interval '5 "
                               "hours')::date BETWEEN to_date($1, "
                               "'IYYY-\"W\"IW') AND to_date($1, "
                               "'IYYY-\"W\"IW') + 6",
                               t.week));
        assert_true(w_number(r.body, "esc-count") >= 3);
        assert_null(strstr(r.body, "<b>\\\""));
        assert_non_null(strstr(r.body, "&lt;b&gt;\\&quot;x"));
        assert_non_null(strstr(r.body, "<svg"));
        assert_non_null(strstr(r.body, "<rect"));
        {
                char month[16];
                long rated, unrated;

                wt_q(&t,
                     "SELECT (date_trunc('month', to_date($1, 'IYYY-\"W\"IW') "
                     "+ 7) - interval '1 month')::date::text",
                     t.week, month, sizeof(month));
                rated = wt_qn(&t,
                              "SELECT count(*) FROM ksk_rating WHERE month = "
                              "$1::date AND rated",
                              month);
                unrated = wt_qn(&t,
                                "SELECT count(*) FROM ksk_rating WHERE month = "
                                "$1::date AND NOT rated",
                                month);
                assert_int_equal(w_number(r.body, "rated-count"), rated);
                assert_int_equal(w_number(r.body, "unrated-count"), unrated);
                assert_true(rated > 0);
        }
        assert_null(strstr(r.body, "<script"));
        wc_free(&r);

        /* filters: a district, a category; the CSV of the summary */
        wt_q(&t,
             "SELECT district FROM an_tasks WHERE district IS NOT NULL GROUP BY "
             "1 ORDER BY count(*) DESC LIMIT 1",
             NULL, dist, sizeof(dist));
        snprintf(path, sizeof(path), "/dashboard?week=%s&district=%s", t.week,
                 wc_urlenc(dist, enc, sizeof(enc)));
        assert_int_equal(w_req(&n, "GET", path, NULL, NULL, &r), 200);
        want = count_days("AND t.district = $1", 0, 6, dist);
        assert_int_equal(w_number(r.body, "week-count"), want);
        wc_free(&r);
        snprintf(path, sizeof(path), "/dashboard?week=%s&category=heating",
                 t.week);
        assert_int_equal(w_req(&n, "GET", path, NULL, NULL, &r), 200);
        assert_int_equal(w_number(r.body, "week-count"),
                         count_days("AND c.category = 'heating'", 0, 6, NULL));
        wc_free(&r);
        snprintf(path, sizeof(path), "/dashboard/summary.csv?week=%s", t.week);
        assert_int_equal(w_req(&n, "GET", path, NULL, NULL, &r), 200);
        assert_non_null(strstr(wc_header(&r, "Content-Type", h, sizeof(h)),
                               "text/csv"));
        assert_non_null(
                strstr(wc_header(&r, "Content-Disposition", h, sizeof(h)),
                       "attachment"));
        snprintf(line, sizeof(line),
                 "week,district,category,this_week,previous_week,wow_pct,"
                 "since_1_january\r\n%s,,,%ld,%ld,",
                 t.week, count_days("", 0, 6, NULL),
                 count_days("", -7, -1, NULL));
        assert_memory_equal(r.body, line, strlen(line));
        wc_free(&r);
        /* every table has its CSV, with a header and the rows */
        {
                static const char *const tables[] = {
                        "categories",       "districts",   "weekly_categories",
                        "weekly_districts", "escalations", "rating",
                        "unrated",          "now"};

                for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]);
                     i++) {
                        snprintf(path, sizeof(path),
                                 "/dashboard/%s.csv?week=%s", tables[i],
                                 t.week);
                        assert_int_equal(w_req(&n, "GET", path, NULL, NULL, &r),
                                         200);
                        assert_non_null(strstr(r.body, "\r\n"));
                        if (!strcmp(tables[i], "escalations"))
                                assert_non_null(
                                        strstr(r.body, "\"{\"\"note\"\""));
                        wc_free(&r);
                }
        }
        snprintf(path, sizeof(path), "/dashboard/weekly_categories.csv?week=%s",
                 t.week);
        assert_int_equal(w_req(&n, "GET", path, NULL, NULL, &r), 200);
        {
                long sum = 0;
                char wk[16];

                snprintf(wk, sizeof(wk), ",%s,", t.week);
                for (const char *p = strstr(r.body, wk); p;
                     p = strstr(p + 1, wk))
                        sum += strtol(strchr(p + strlen(wk), ',') + 1, NULL,
                                      10);
                assert_int_equal(sum, count_days("", 0, 6, NULL));
        }
        wc_free(&r);
}

/* A resident's dispute (issue 16; komek-gateway's POST
 * /servicerequestupdates applies it through the same km_task_apply): the
 * task is reopened at the same organisation, listed first in /inbox, its
 * page shows it as disputed with the resident's text (escaped) in the
 * history, and the staff can acknowledge it again. */
void test_web_reopened(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;
        struct km_task_result out;
        char id[64], path[128], tok[128], body[256], err[512];
        struct km_task_change ch;
        const char *p;

        (void)state;
        assert_int_equal(wt_q(&t,
                              "SELECT complaint_id FROM tasks WHERE org_id = "
                              "$1 AND status = 'open' ORDER BY due_at DESC, "
                              "complaint_id LIMIT 1",
                              t.org, id, sizeof(id)),
                         0);
        memset(&ch, 0, sizeof(ch));
        ch.org_id = t.org;
        ch.complaint_id = id;
        ch.action = KM_TASK_RESOLVE;
        ch.note = "fixed the pipe";
        if (km_task_apply(t.rt.conn, &t.rt.conf, NULL, &ch, &out, err,
                          sizeof(err)))
                fail_msg("resolve: %s", err);
        memset(&ch, 0, sizeof(ch));
        ch.complaint_id = id;
        ch.action = KM_TASK_REOPEN;
        ch.note = "still leaking <b>x</b>";
        ch.reopen_s = 15 * 86400;
        if (km_task_apply(t.rt.conn, &t.rt.conf, NULL, &ch, &out, err,
                          sizeof(err)))
                fail_msg("reopen: %s", err);
        assert_string_equal(out.org, t.org);
        assert_int_equal(w_login(&jar, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&jar, "GET", "/inbox", NULL, NULL, &r), 200);
        p = strstr(r.body, "data-id=\"");
        assert_non_null(p);
        if (strncmp(p + 9, id, 36))
                fail_msg("/inbox: the reopened %s is not first", id);
        wc_free(&r);
        snprintf(path, sizeof(path), "/tasks/%s", id);
        assert_int_equal(w_req(&jar, "GET", path, NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "still leaking &lt;b&gt;x&lt;/b&gt;"));
        assert_null(strstr(r.body, "<b>x</b>"));
        assert_true(strstr(r.body, "the resident") || strstr(r.body, "житель"));
        assert_true(strstr(r.body, "reopened (disputed)") ||
                    strstr(r.body, "возобновлена (оспорена)"));
        assert_non_null(strstr(r.body, "id=\"ack\""));
        wc_free(&r);
        w_csrf_of(&jar, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/ack", id);
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_post(&jar, path, body, NULL), 303);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE complaint_id "
                               "= $1::uuid AND status = 'acknowledged'",
                               id),
                         1);
}

static int count_between(const char *p, const char *end, const char *what)
{
        int n = 0;

        while ((p = strstr(p, what)) != NULL && p < end) {
                n++;
                p += strlen(what);
        }
        return n;
}

/* The inbox shows the organisation the notifications komek-notify gave up
 * (issue 22): its own only, newest first, the error text escaped; the
 * web's role reads them through web_undelivered() alone. */
void test_web_undelivered(void **state)
{
        static const char ins[] =
                "INSERT INTO notify_deliveries (event_id, kind, complaint_id, "
                "attempt, org_id, channel, target, urgent, category, routed_at, "
                "due_at, next_at, status, tries, created_at, last_error) SELECT "
                "gen_random_uuid(), k, gen_random_uuid(), 1, $1, 'webhook', "
                "'https://hooks.' || $1 || '.kz/komek', false, 'heating', now(), "
                "now(), now(), s, 7, now() - d * interval '1 minute', "
                "'webhook: HTTP 500 <script>x</script>' FROM (VALUES ('new', "
                "'dead', 2), ('sla_warning', 'dead', 1), ('new', 'sent', 0), "
                "('reroute', 'pending', 0)) v(k, s, d)";
        struct wc_jar a = {0}, b = {0};
        struct wc_resp r;
        char want[256];
        const char *tab, *end;

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "id=\"undelivered\"")); /* none yet */
        wc_free(&r);
        w_sql(ins, t.org);
        w_sql(ins, t.other);
        assert_int_equal(w_req(&a, "GET", "/inbox?lang=en", NULL, NULL, &r),
                         200);
        tab = strstr(r.body, "<table id=\"undelivered\">");
        assert_non_null(tab);
        end = strstr(tab, "</table>");
        assert_non_null(end);
        /* the two dead rows, newest (the SLA warning) first */
        snprintf(want, sizeof(want), "https://hooks.%s.kz/komek", t.org);
        assert_non_null(strstr(tab, want));
        assert_int_equal(count_between(tab, end, "<tr data-task="), 2);
        assert_true(strstr(tab, "SLA warning") < strstr(tab, "new task"));
        assert_null(strstr(tab, "re-routed"));
        snprintf(want, sizeof(want), "hooks.%s.kz", t.other);
        assert_null(strstr(r.body, want)); /* not another organisation's */
        assert_null(strstr(r.body, "<script>x"));
        assert_non_null(strstr(tab, "&lt;script&gt;x&lt;/script&gt;"));
        wc_free(&r);
        /* page 2 and past the end: the list is on the first page only */
        assert_int_equal(w_req(&a, "GET", "/inbox?page=9999", NULL, NULL, &r),
                         200);
        assert_null(strstr(r.body, "id=\"undelivered\""));
        wc_free(&r);
        assert_int_equal(w_login(&b, "staff.b", PW_B), 303);
        assert_int_equal(w_req(&b, "GET", "/inbox", NULL, NULL, &r), 200);
        snprintf(want, sizeof(want), "https://hooks.%s.kz/komek", t.other);
        assert_non_null(strstr(r.body, want));
        snprintf(want, sizeof(want), "hooks.%s.kz", t.org);
        assert_null(strstr(r.body, want));
        wc_free(&r);
        /* least privilege: the web's role has the function, not the log */
        assert_int_equal(wt_qn(&t,
                               "SELECT has_function_privilege('komek_web', "
                               "'web_undelivered(text, integer)', 'EXECUTE')"
                               "::int + 2 * has_table_privilege('komek_web', "
                               "'notify_deliveries', 'SELECT')::int + 4 * "
                               "has_table_privilege('komek_web', "
                               "'notify_undelivered', 'SELECT')::int + 8 * "
                               "has_function_privilege('public', "
                               "'web_undelivered(text, integer)', "
                               "'EXECUTE')::int WHERE $1::text IS NOT NULL",
                               "x"),
                         1);
        w_sql("DELETE FROM notify_deliveries WHERE org_id = $1", t.org);
        w_sql("DELETE FROM notify_deliveries WHERE org_id = $1", t.other);
}

/* The old organisation's inbox lists the tasks it handed over when its
 * buildings changed hands (issue 17; task_outbox's handed_over rows, as
 * km_task_handover writes them): its own only, the note escaped, no link
 * (the task is the new organisation's), on the first page only. */
void test_web_handed_over(void **state)
{
        static const char ins[] =
                "INSERT INTO task_outbox (event_id, topic, msg_key, payload, "
                "complaint_id, attempt, org_id, event, note, created_at, "
                "published_at) SELECT gen_random_uuid(), 'task_events', 'k', "
                "'{}', gen_random_uuid(), 1, $1, e, 'to ksk-new <b>x</b>', "
                "now() - d * interval '1 day', now() FROM (VALUES "
                "('handed_over', 1), ('handed_over', 2), ('handed_over', 40), "
                "('acknowledged', 0)) v(e, d)";
        struct wc_jar a = {0}, b = {0};
        struct wc_resp r;
        const char *tab, *end;

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "id=\"handed-over\"")); /* none yet */
        wc_free(&r);
        w_sql(ins, t.org);
        assert_int_equal(w_req(&a, "GET", "/inbox?lang=en", NULL, NULL, &r),
                         200);
        tab = strstr(r.body, "<table id=\"handed-over\">");
        assert_non_null(tab);
        end = strstr(tab, "</table>");
        assert_non_null(end);
        /* the two of the last 30 days; not the acknowledgement */
        assert_int_equal(count_between(tab, end, "<tr data-task="), 2);
        assert_int_equal(count_between(tab, end, "href="), 0);
        assert_null(strstr(r.body, "to ksk-new <b>"));
        assert_non_null(strstr(tab, "to ksk-new &lt;b&gt;x&lt;/b&gt;"));
        assert_non_null(strstr(r.body, "Handed over"));
        wc_free(&r);
        assert_int_equal(w_req(&a, "GET", "/inbox?page=9999", NULL, NULL, &r),
                         200);
        assert_null(strstr(r.body, "id=\"handed-over\""));
        wc_free(&r);
        /* another organisation's staff: not theirs */
        assert_int_equal(w_login(&b, "staff.b", PW_B), 303);
        assert_int_equal(w_req(&b, "GET", "/inbox", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "id=\"handed-over\""));
        wc_free(&r);
        w_sql("DELETE FROM task_outbox WHERE org_id = $1 AND msg_key = 'k' "
              "AND payload = '{}'",
              t.org);
}
