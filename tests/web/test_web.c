/*
 * test_web.c - komek-web over real HTTP against tasks routed by the real
 * router and task sink (tests/web/wt.c) and the real broker: every route;
 * sign-in, wrong passwords and the lock-out per login and per address;
 * cookies; CSRF (missing, wrong, another session's token, another
 * origin); access control (another organisation's task by id, by a
 * replayed form; staff vs analyst pages); the state rules of
 * km_task_apply and one task-events message per change on the topic;
 * hostile descriptions, addresses, contacts and notes escaped; session
 * expiry and sign-out; the dashboard's figures and CSV against the
 * fixture's facts; the language switch; the users CLI.
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
#include <time.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"
#include "wclient.h"
#include "wt.h"

#define PW_A "correct horse battery A"
#define PW_B "correct horse battery B"
#define PW_N "analyst password 123"

static struct wt t;

/* ---- helpers -------------------------------------------------------------- */

static int req(struct wc_jar *jar, const char *method, const char *path,
               const char *body, const char *extra, struct wc_resp *r)
{
        if (wc_do(t.port, method, path, body, jar, extra, r))
                fail_msg("%s %s: no answer", method, path);
        return r->status;
}

/* GET path, return its status (body dropped). */
static int get(struct wc_jar *jar, const char *path)
{
        struct wc_resp r;
        int st = req(jar, "GET", path, NULL, NULL, &r);

        wc_free(&r);
        return st;
}

/* Sign in: GET /login (its form token and cookie), POST.  @returns the
 * POST's status. */
static int login(struct wc_jar *jar, const char *user, const char *pw)
{
        struct wc_resp r;
        char tok[128], body[512], u[128], p[256];
        int st;

        memset(jar, 0, sizeof(*jar)); /* a fresh browser */
        assert_int_equal(req(jar, "GET", "/login", NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
        wc_free(&r);
        snprintf(body, sizeof(body), "csrf=%s&login=%s&password=%s", tok,
                 wc_urlenc(user, u, sizeof(u)), wc_urlenc(pw, p, sizeof(p)));
        st = req(jar, "POST", "/login", body, NULL, &r);
        wc_free(&r);
        return st;
}

/* The session's form token, from a page. */
static void csrf_of(struct wc_jar *jar, const char *path, char *tok,
                    size_t len)
{
        struct wc_resp r;

        assert_int_equal(req(jar, "GET", path, NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, len), 0);
        wc_free(&r);
}

static int post_form(struct wc_jar *jar, const char *path, const char *body,
                     const char *extra)
{
        struct wc_resp r;
        int st = req(jar, "POST", path, body, extra, &r);

        wc_free(&r);
        return st;
}

/* The number in id="name">N< of a page. */
static long page_number(const char *html, const char *id)
{
        char pat[64];
        const char *p;

        snprintf(pat, sizeof(pat), "id=\"%s\">", id);
        p = strstr(html, pat);
        if (p == NULL)
                fail_msg("no %s in the page", id);
        return strtol(p + strlen(pat), NULL, 10);
}

static void sqlf(const char *sql, const char *arg)
{
        const char *p[1] = {arg};
        char err[512];

        if (km_pg_exec(t.rt.conn, sql, arg ? 1 : 0, p, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_headers_and_static(void **state)
{
        struct wc_resp r;
        char h[512];

        (void)state;
        assert_int_equal(req(NULL, "GET", "/static/web.css", NULL, NULL, &r),
                         200);
        assert_non_null(wc_header(&r, "Content-Type", h, sizeof(h)));
        assert_non_null(strstr(h, "text/css"));
        wc_free(&r);
        assert_int_equal(req(NULL, "GET", "/login", NULL, NULL, &r), 200);
        assert_non_null(wc_header(&r, "Content-Security-Policy", h, sizeof(h)));
        assert_non_null(strstr(h, "default-src 'self'"));
        assert_non_null(strstr(h, "script-src 'none'"));
        assert_string_equal(wc_header(&r, "X-Frame-Options", h, sizeof(h)),
                            "DENY");
        assert_string_equal(wc_header(&r, "X-Content-Type-Options", h,
                                      sizeof(h)),
                            "nosniff");
        assert_string_equal(wc_header(&r, "Cache-Control", h, sizeof(h)),
                            "no-store");
        assert_string_equal(wc_header(&r, "Referrer-Policy", h, sizeof(h)),
                            "same-origin");
        assert_null(strstr(r.body, "<script"));
        assert_null(strstr(r.body, "style=\""));
        wc_free(&r);
        /* unknown routes and methods; pages need a session */
        assert_int_equal(get(NULL, "/nope"), 404);
        assert_int_equal(req(NULL, "DELETE", "/inbox", NULL, NULL, &r), 405);
        wc_free(&r);
        assert_int_equal(req(NULL, "GET", "/inbox", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/login");
        wc_free(&r);
        assert_int_equal(get(NULL, "/dashboard"), 303);
        assert_int_equal(get(NULL, "/dashboard/summary.csv"), 303);
        assert_int_equal(get(NULL, "/"), 303);
        assert_int_equal(post_form(NULL, "/logout", "csrf=x", NULL), 303);
}

static void test_login_and_cookies(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;
        char h[1024], tok[128], body[512];

        (void)state;
        /* the sign-in form's own token: without its cookie, refused */
        assert_int_equal(req(&jar, "GET", "/login", NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
        wc_free(&r);
        snprintf(body, sizeof(body), "csrf=%s&login=staff.a&password=%s", tok,
                 "correct+horse+battery+A");
        assert_int_equal(post_form(NULL, "/login", body, NULL), 403);
        /* right: a session cookie, HttpOnly, SameSite=Strict, Path=/ */
        assert_int_equal(req(&jar, "POST", "/login", body, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/");
        wc_set_cookies(&r, h, sizeof(h));
        assert_non_null(strstr(h, "km_session="));
        assert_non_null(strstr(h, "HttpOnly"));
        assert_non_null(strstr(h, "SameSite=Strict"));
        assert_non_null(strstr(h, "Path=/"));
        wc_free(&r);
        assert_string_equal(wc_cookie(&jar, "km_session") ? "set" : "none",
                            "set");
        /* the stored id is a hash of the cookie's, never the cookie's */
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_sessions WHERE id_hash "
                               "= $1",
                               wc_cookie(&jar, "km_session")),
                         0);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_sessions WHERE id_hash "
                               "= encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                               wc_cookie(&jar, "km_session")),
                         1);
        assert_int_equal(req(&jar, "GET", "/", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/inbox");
        wc_free(&r);
        assert_int_equal(get(&jar, "/login"), 303); /* already signed in */
        /* logins are case-insensitive; passwords are not */
        {
                struct wc_jar j2 = {0};

                assert_int_equal(login(&j2, "Staff.A", PW_A), 303);
                assert_int_equal(login(&j2, "staff.a", "CORRECT HORSE BATTERY A"),
                                 401);
        }
        sqlf("DELETE FROM web_login_failures", NULL);
}

static void test_wrong_password_and_lockout(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;

        (void)state;
        /* wrong passwords: 401, the same answer for an unknown login */
        for (int i = 0; i < 4; i++)
                assert_int_equal(login(&jar, "staff.b", "wrong password!"), 401);
        assert_int_equal(login(&jar, "staff.b", PW_B), 303); /* clears */
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_login_failures WHERE "
                               "key = 'user:staff.b'",
                               NULL),
                         0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(login(&jar, "staff.b", "wrong password!"), 401);
        /* locked: even the right password is refused, without a check */
        assert_int_equal(login(&jar, "staff.b", PW_B), 429);
        /* an unknown login locks the same way (says nothing of existence) */
        for (int i = 0; i < 5; i++)
                assert_int_equal(login(&jar, "nobody.here", "whatever12"), 401);
        assert_int_equal(login(&jar, "nobody.here", "whatever12"), 429);
        {
                char tok[128], body[256];

                assert_int_equal(req(&jar, "GET", "/login", NULL, NULL, &r),
                                 200);
                assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
                wc_free(&r);
                snprintf(body, sizeof(body),
                         "csrf=%s&login=staff.b&password=x", tok);
                assert_int_equal(req(&jar, "POST", "/login", body, NULL, &r),
                                 429);
                assert_non_null(strstr(r.body, "id=\"error\""));
                wc_free(&r);
        }
        /* the lock ends */
        sqlf("UPDATE web_login_failures SET locked_until = now() - interval "
             "'1 second', first_at = now() - interval '1 hour'",
             NULL);
        assert_int_equal(login(&jar, "staff.b", PW_B), 303);
        sqlf("DELETE FROM web_login_failures", NULL);
}

static void test_inbox_list(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;
        char want[8192], got[8192] = "", tmp[64];
        const char *p;

        (void)state;
        assert_int_equal(login(&jar, "staff.a", PW_A), 303);
        assert_int_equal(req(&jar, "GET", "/inbox", NULL, NULL, &r), 200);
        /* overdue first, then by due time; only the organisation's */
        assert_int_equal(wt_q(&t,
                              "SELECT string_agg(complaint_id::text, ',' ORDER "
                              "BY due_at, complaint_id) FROM (SELECT * FROM "
                              "tasks WHERE org_id = $1 AND status IN ('open', "
                              "'acknowledged') ORDER BY due_at, complaint_id "
                              "LIMIT 50) s",
                              t.org, want, sizeof(want)),
                         0);
        for (p = strstr(r.body, "data-id=\""); p; p = strstr(p + 1, "data-id=\"")) {
                snprintf(tmp, sizeof(tmp), "%s%.36s", got[0] ? "," : "", p + 9);
                strncat(got, tmp, sizeof(got) - strlen(got) - 1);
        }
        assert_string_equal(got, want);
        assert_int_equal(page_number(r.body, "open-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE org_id = $1 "
                               "AND status IN ('open', 'acknowledged')",
                               t.org));
        assert_int_equal(page_number(r.body, "overdue-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE org_id = $1 "
                               "AND status IN ('open', 'acknowledged') AND "
                               "due_at < now()",
                               t.org));
        assert_true(page_number(r.body, "overdue-count") > 0);
        assert_non_null(strstr(r.body, "<tr class=\"overdue\" data-id"));
        wc_free(&r);
        /* page 2 exists when there are more */
        if (wt_qn(&t,
                  "SELECT count(*) FROM tasks WHERE org_id = $1 AND status IN "
                  "('open', 'acknowledged')",
                  t.org) > 50)
                assert_int_equal(get(&jar, "/inbox?page=2"), 200);
        assert_int_equal(get(&jar, "/inbox?page=-3"), 200);
}

static void test_access_control(void **state)
{
        struct wc_jar a = {0}, n = {0};
        char other_id[64], mine[64], path[128], tok[128], body[256];

        (void)state;
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        assert_int_equal(login(&n, "analyst1", PW_N), 303);
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
        assert_int_equal(get(&a, path), 404);
        assert_int_equal(get(&a, "/tasks/00000000-0000-4000-8000-000000000000"),
                         404);
        assert_int_equal(get(&a, "/tasks/not-a-uuid"), 404);
        assert_int_equal(get(&a, "/tasks/../inbox"), 404);
        snprintf(path, sizeof(path), "/tasks/%s", mine);
        assert_int_equal(get(&a, path), 200);
        snprintf(path, sizeof(path), "/tasks/%s/explode", mine);
        assert_int_equal(post_form(&a, path, "csrf=x", NULL), 403);
        /* a change of another organisation's task with a valid token */
        csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/resolve", other_id);
        snprintf(body, sizeof(body), "csrf=%s&note=done", tok);
        assert_int_equal(post_form(&a, path, body, NULL), 404);
        snprintf(path, sizeof(path), "/tasks/%s/ack", other_id);
        assert_int_equal(post_form(&a, path, body, NULL), 404);
        assert_int_equal(wt_qn(&t,
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
        assert_int_equal(get(&a, "/dashboard"), 403);
        assert_int_equal(get(&a, "/dashboard/summary.csv"), 403);
        assert_int_equal(get(&n, "/inbox"), 403);
        snprintf(path, sizeof(path), "/tasks/%s", mine);
        assert_int_equal(get(&n, path), 403);
        csrf_of(&n, "/dashboard", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/ack", mine);
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(post_form(&n, path, body, NULL), 403);
        assert_int_equal(get(&n, "/"), 303);
        assert_int_equal(get(&n, "/dashboard/nope.csv"), 404);
}

static void test_csrf(void **state)
{
        struct wc_jar a = {0}, b = {0};
        char id[64], path[128], tok_a[128], tok_b[128], body[256];

        (void)state;
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        assert_int_equal(login(&b, "staff.b", PW_B), 303);
        csrf_of(&a, "/inbox", tok_a, sizeof(tok_a));
        csrf_of(&b, "/inbox", tok_b, sizeof(tok_b));
        assert_string_not_equal(tok_a, tok_b);
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at DESC LIMIT 1 OFFSET 1",
             t.org, id, sizeof(id));
        snprintf(path, sizeof(path), "/tasks/%s/ack", id);
        assert_int_equal(post_form(&a, path, "", NULL), 403);
        assert_int_equal(post_form(&a, path, "csrf=", NULL), 403);
        assert_int_equal(post_form(&a, path,
                                   "csrf=00000000000000000000000000000000000"
                                   "00000000000000000000000000000",
                                   NULL),
                         403);
        snprintf(body, sizeof(body), "csrf=%s", tok_b); /* b's replayed form */
        assert_int_equal(post_form(&a, path, body, NULL), 403);
        snprintf(body, sizeof(body), "csrf=%s", tok_a);
        assert_int_equal(post_form(&a, path, body,
                                   "Origin: http://evil.example\r\n"),
                         403);
        /* what a browser sends with referrer policy no-referrer */
        assert_int_equal(post_form(&a, path, body, "Origin: null\r\n"), 403);
        assert_int_equal(post_form(&a, "/logout", "csrf=bad", NULL), 403);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE complaint_id = "
                               "$1::uuid AND status = 'open'",
                               id),
                         1);
        /* the right token from the same origin works */
        {
                char origin[64];

                snprintf(origin, sizeof(origin),
                         "Origin: http://127.0.0.1:%d\r\n", t.port);
                assert_int_equal(post_form(&a, path, body, origin), 303);
        }
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE complaint_id = "
                               "$1::uuid AND status = 'acknowledged'",
                               id),
                         1);
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

static void test_changes_exactly_once(void **state)
{
        struct wc_jar a = {0};
        struct wc_resp r;
        char x[64], y[64], path[128], tok[128], body[512], h[256];
        struct events ev;
        long before_events;

        (void)state;
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        csrf_of(&a, "/inbox", tok, sizeof(tok));
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
        assert_int_equal(req(&a, "POST", path, body, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)),
                            "/inbox?done=acknowledged");
        wc_free(&r);
        assert_int_equal(req(&a, "POST", path, body, NULL, &r), 409);
        assert_non_null(strstr(r.body, "id=\"error\""));
        wc_free(&r);
        /* resolve needs a note */
        snprintf(path, sizeof(path), "/tasks/%s/resolve", x);
        assert_int_equal(post_form(&a, path, body, NULL), 409);
        snprintf(body, sizeof(body), "csrf=%s&note=%s", tok,
                 "%D0%B7%D0%B0%D0%BC%D0%B5%D0%BD%D0%B8%D0%BB%D0%B8+%D0%BA%D1%80"
                 "%D0%B0%D0%BD%0D%0Aok");
        assert_int_equal(post_form(&a, path, body, NULL), 303);
        assert_int_equal(post_form(&a, path, body, NULL), 409); /* twice */
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE complaint_id = "
                               "$1::uuid AND status = 'resolved' AND "
                               "status_note = E'заменили кран\\r\\nok'",
                               x),
                         1);
        /* it left the open list */
        assert_int_equal(req(&a, "GET", "/inbox?done=resolved", NULL, NULL, &r),
                         200);
        assert_null(strstr(r.body, x));
        assert_non_null(strstr(r.body, "id=\"done\""));
        wc_free(&r);
        /* reject: re-routed to triage, attempt 2 */
        snprintf(path, sizeof(path), "/tasks/%s/reject", y);
        snprintf(body, sizeof(body), "csrf=%s&reason=", tok);
        assert_int_equal(post_form(&a, path, body, NULL), 409);
        snprintf(body, sizeof(body), "csrf=%s&reason=not+our+house&category="
                                     "&building=",
                 tok);
        assert_int_equal(post_form(&a, path, body, NULL), 303);
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
        memset(&ev, 0, sizeof(ev));
        km_test_read_topic(&t.rt.conf, t.rt.events, "read_committed",
                           (int)before_events + 3, 60000, 1500, collect, &ev);
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

static void test_escaping(void **state)
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
                    km_pg_exec(t.rt.conn,
                               "UPDATE tasks SET description = $2, address = "
                               "$2, contact = jsonb_build_object('name', "
                               "$2::text, "
                               "'phone', '+7 701 000 00 00') WHERE "
                               "complaint_id = $1::uuid",
                               2, p, NULL, err, sizeof(err)),
                    0);
        }
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        assert_int_equal(req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "<img"));
        assert_non_null(strstr(r.body, "&lt;script&gt;"));
        wc_free(&r);
        snprintf(path, sizeof(path), "/tasks/%s", id);
        assert_int_equal(req(&a, "GET", path, NULL, NULL, &r), 200);
        assert_null(strstr(r.body, "<script>"));
        assert_null(strstr(r.body, "<img"));
        assert_null(strstr(r.body, "\"quoted\""));
        assert_non_null(strstr(r.body, "&lt;script&gt;alert(&quot;x&quot;)"
                                       "&lt;/script&gt; &quot;quoted&quot; "
                                       "&#39;single&#39; &amp; &lt;img"));
        assert_non_null(strstr(r.body, "+7 701 000 00 00"));
        wc_free(&r);
        /* a hostile note is kept as written and shown escaped */
        csrf_of(&a, "/inbox", tok, sizeof(tok));
        snprintf(path, sizeof(path), "/tasks/%s/resolve", id);
        snprintf(body, sizeof(body), "csrf=%s&note=%s", tok,
                 wc_urlenc(evil, enc, sizeof(enc)));
        assert_int_equal(post_form(&a, path, body, NULL), 303);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE complaint_id = "
                               "$1::uuid AND status_note LIKE '<script>%'",
                               id),
                         1);
        snprintf(path, sizeof(path), "/tasks/%s", id);
        assert_int_equal(req(&a, "GET", path, NULL, NULL, &r), 200);
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

static void test_session_expiry_and_logout(void **state)
{
        struct wc_jar a = {0}, b = {0};
        struct wc_resp r;
        char tok[128], body[160], h[128];

        (void)state;
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        assert_int_equal(get(&a, "/inbox"), 200);
        sqlf("UPDATE web_sessions SET expires_at = now() - interval '1 second' "
             "WHERE login = 'staff.a'",
             NULL);
        assert_int_equal(req(&a, "GET", "/inbox", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/login");
        wc_free(&r);
        /* idle expiry slides: a request pushes it out, not past the maximum */
        assert_int_equal(login(&b, "staff.a", PW_A), 303);
        sqlf("UPDATE web_sessions SET last_seen_at = now() - interval '10 "
             "minutes', expires_at = now() + interval '1 minute' WHERE login = "
             "'staff.a' AND expires_at > now()",
             NULL);
        assert_int_equal(get(&b, "/inbox"), 200);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_sessions WHERE login = "
                               "'staff.a' AND expires_at > now() + interval "
                               "'50 minutes'",
                               NULL),
                         1);
        /* sign-out ends the session on the server too */
        csrf_of(&b, "/inbox", tok, sizeof(tok));
        {
                struct wc_jar copy = b;

                snprintf(body, sizeof(body), "csrf=%s", tok);
                assert_int_equal(post_form(&b, "/logout", body, NULL), 303);
                assert_null(wc_cookie(&b, "km_session"));
                assert_int_equal(get(&copy, "/inbox"), 303); /* old cookie */
        }
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_sessions WHERE login = "
                               "'staff.a' AND expires_at > now()",
                               NULL),
                         0);
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

static void test_dashboard(void **state)
{
        struct wc_jar n = {0};
        struct wc_resp r;
        char path[256], h[256], dist[128], enc[256], line[512];
        long want, ytd_from;

        (void)state;
        assert_int_equal(login(&n, "analyst1", PW_N), 303);
        assert_int_equal(req(&n, "GET", "/dashboard", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, t.week)); /* the week of the latest data */
        assert_int_equal(page_number(r.body, "week-count"),
                         count_days("", 0, 6, NULL));
        assert_int_equal(page_number(r.body, "prev-count"),
                         count_days("", -7, -1, NULL));
        ytd_from = wt_qn(&t,
                         "SELECT to_date($1, 'IYYY-\"W\"IW') + 6 - "
                         "date_trunc('year', to_date($1, 'IYYY-\"W\"IW') + "
                         "6)::date",
                         t.week);
        assert_int_equal(page_number(r.body, "ytd-count"),
                         count_days("", -(int)ytd_from + 6, 6, NULL));
        assert_int_equal(page_number(r.body, "live-open"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE status IN "
                               "('open', 'acknowledged')",
                               NULL));
        assert_int_equal(page_number(r.body, "live-overdue"),
                         wt_qn(&t,
                               "SELECT count(*) FROM tasks WHERE status IN "
                               "('open', 'acknowledged') AND due_at < now()",
                               NULL));
        assert_int_equal(page_number(r.body, "esc-count"),
                         wt_qn(&t,
                               "SELECT count(*) FROM escalations WHERE "
                               "(window_end AT TIME ZONE 'UTC' + interval '5 "
                               "hours')::date BETWEEN to_date($1, "
                               "'IYYY-\"W\"IW') AND to_date($1, "
                               "'IYYY-\"W\"IW') + 6",
                               t.week));
        assert_true(page_number(r.body, "esc-count") >= 3);
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
                assert_int_equal(page_number(r.body, "rated-count"), rated);
                assert_int_equal(page_number(r.body, "unrated-count"), unrated);
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
        assert_int_equal(req(&n, "GET", path, NULL, NULL, &r), 200);
        want = count_days("AND t.district = $1", 0, 6, dist);
        assert_int_equal(page_number(r.body, "week-count"), want);
        wc_free(&r);
        snprintf(path, sizeof(path), "/dashboard?week=%s&category=heating",
                 t.week);
        assert_int_equal(req(&n, "GET", path, NULL, NULL, &r), 200);
        assert_int_equal(page_number(r.body, "week-count"),
                         count_days("AND c.category = 'heating'", 0, 6, NULL));
        wc_free(&r);
        snprintf(path, sizeof(path), "/dashboard/summary.csv?week=%s", t.week);
        assert_int_equal(req(&n, "GET", path, NULL, NULL, &r), 200);
        assert_non_null(strstr(wc_header(&r, "Content-Type", h, sizeof(h)),
                               "text/csv"));
        assert_non_null(strstr(wc_header(&r, "Content-Disposition", h,
                                         sizeof(h)),
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
                    "categories", "districts", "weekly_categories",
                    "weekly_districts", "escalations", "rating", "unrated",
                    "now"};

                for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                        snprintf(path, sizeof(path),
                                 "/dashboard/%s.csv?week=%s", tables[i], t.week);
                        assert_int_equal(req(&n, "GET", path, NULL, NULL, &r),
                                         200);
                        assert_non_null(strstr(r.body, "\r\n"));
                        if (!strcmp(tables[i], "escalations"))
                                assert_non_null(strstr(r.body,
                                                       "\"{\"\"note\"\""));
                        wc_free(&r);
                }
        }
        snprintf(path, sizeof(path), "/dashboard/weekly_categories.csv?week=%s",
                 t.week);
        assert_int_equal(req(&n, "GET", path, NULL, NULL, &r), 200);
        {
                long sum = 0;
                char wk[16];

                snprintf(wk, sizeof(wk), ",%s,", t.week);
                for (const char *p = strstr(r.body, wk); p;
                     p = strstr(p + 1, wk))
                        sum += strtol(strchr(p + strlen(wk), ',') + 1, NULL, 10);
                assert_int_equal(sum, count_days("", 0, 6, NULL));
        }
        wc_free(&r);
}

static void test_lang(void **state)
{
        struct wc_jar j = {0};
        struct wc_resp r;

        (void)state;
        assert_int_equal(req(&j, "GET", "/login?lang=en", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "<html lang=\"en\">"));
        assert_non_null(strstr(r.body, "Sign in"));
        wc_free(&r);
        assert_string_equal(wc_cookie(&j, "km_lang"), "en");
        assert_int_equal(req(&j, "GET", "/login", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "Password"));
        wc_free(&r);
        assert_int_equal(req(&j, "GET", "/login?lang=ru", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "Пароль"));
        wc_free(&r);
        assert_int_equal(req(NULL, "GET", "/login?lang=xx", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "<html lang=\"ru\">")); /* the default */
        wc_free(&r);
}

static void test_users_cli(void **state)
{
        struct wc_jar j = {0}, k = {0};
        char *out = NULL, pw[64];

        (void)state;
        assert_int_equal(wt_user(&t, "staff.a", t.org, "another password"), 1);
        assert_int_equal(wt_user(&t, "staff.c", "no-such-org", "long enough 1"),
                         1);
        assert_int_equal(wt_user(&t, "staff.c", t.org, "short"), 1);
        assert_int_equal(wt_users(&t, NULL, "add", "Bad Login", "--analyst",
                                  NULL),
                         2);
        assert_int_equal(wt_users(&t, NULL, "add", "x1", NULL), 2);
        /* a generated password, printed once */
        assert_int_equal(wt_users(&t, &out, "add", "staff.c", "--org", t.org,
                                  NULL),
                         0);
        assert_int_equal(sscanf(out, "staff.c %63s", pw), 1);
        assert_int_equal(strlen(pw), 20);
        free(out);
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_users WHERE login = "
                               "'staff.c' AND password LIKE "
                               "'pbkdf2_sha256$200000$%' AND strpos(password, "
                               "$1) = 0",
                               pw),
                         1);
        assert_int_equal(login(&j, "staff.c", pw), 303);
        assert_int_equal(get(&j, "/inbox"), 200);
        assert_int_equal(wt_users(&t, &out, "list", NULL), 0);
        assert_non_null(strstr(out, "staff.c"));
        assert_non_null(strstr(out, "analyst1"));
        assert_null(strstr(out, pw));
        free(out);
        /* disable: sessions end, sign-in refused */
        assert_int_equal(wt_users(&t, NULL, "disable", "staff.c", NULL), 0);
        assert_int_equal(get(&j, "/inbox"), 303);
        assert_int_equal(login(&k, "staff.c", pw), 401);
        assert_int_equal(wt_users(&t, NULL, "enable", "staff.c", NULL), 0);
        assert_int_equal(login(&k, "staff.c", pw), 303);
        /* passwd: the old password and sessions are gone */
        assert_int_equal(wt_users(&t, &out, "passwd", "staff.c", NULL), 0);
        free(out);
        assert_int_equal(get(&k, "/inbox"), 303);
        assert_int_equal(login(&k, "staff.c", pw), 401);
        assert_int_equal(wt_users(&t, NULL, "disable", "nobody", NULL), 1);
        sqlf("DELETE FROM web_login_failures", NULL);
}

static void test_too_large(void **state)
{
        struct wc_jar a = {0};
        char *body = km_xmalloc(40000);

        (void)state;
        memset(body, 'a', 39999);
        body[39999] = '\0';
        memcpy(body, "note=", 5);
        assert_int_equal(login(&a, "staff.a", PW_A), 303);
        assert_int_equal(post_form(&a, "/logout", body, NULL), 413);
        free(body);
}

/* Last: failures from one address, over many logins, lock the address. */
static void test_ip_lockout(void **state)
{
        struct wc_jar j = {0};
        char user[32];

        (void)state;
        sqlf("DELETE FROM web_login_failures", NULL);
        for (int i = 0; i < 25; i++) {
                snprintf(user, sizeof(user), "guess%d", i);
                assert_int_equal(login(&j, user, "wrong password"), 401);
        }
        assert_int_equal(login(&j, "staff.a", PW_A), 429);
        sqlf("DELETE FROM web_login_failures", NULL);
        assert_int_equal(login(&j, "staff.a", PW_A), 303);
}

/* A server with Secure cookies (behind TLS): __Host- names, Secure, HSTS. */
static void test_secure_cookies(void **state)
{
        const char *const extra[] = {"--set", "web.cookie_secure=true", NULL};
        struct wc_resp r;
        char h[1024];
        int port = t.port, pid = t.web_pid;

        (void)state;
        assert_int_equal(wt_web_start(&t, extra), 0);
        assert_int_equal(req(NULL, "GET", "/login", NULL, NULL, &r), 200);
        wc_set_cookies(&r, h, sizeof(h));
        assert_non_null(strstr(h, "__Host-km_pre="));
        assert_non_null(strstr(h, "; Secure"));
        assert_non_null(wc_header(&r, "Strict-Transport-Security", h, sizeof(h)));
        wc_free(&r);
        assert_int_equal(wt_web_stop(&t), 0);
        t.port = port;
        t.web_pid = pid;
}

static int setup(void **state)
{
        const char *const extra[] = {"--set", "web.login_ip_max_failures=25",
                                     "--set", "web.cache_s=0", "--set",
                                     "web.live_cache_s=0", NULL};

        (void)state;
        if (wt_setup(&t, "web", 400, 45) || wt_analytics(&t))
                return -1;
        if (wt_user(&t, "staff.a", t.org, PW_A) ||
            wt_user(&t, "staff.b", t.other, PW_B) ||
            wt_user(&t, "analyst1", NULL, PW_N))
                return -1;
        return wt_web_start(&t, extra);
}

static int teardown(void **state)
{
        int st = wt_web_stop(&t);

        (void)state;
        wt_teardown(&t);
        return st == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_headers_and_static),
                cmocka_unit_test(test_login_and_cookies),
                cmocka_unit_test(test_wrong_password_and_lockout),
                cmocka_unit_test(test_inbox_list),
                cmocka_unit_test(test_access_control),
                cmocka_unit_test(test_csrf),
                cmocka_unit_test(test_changes_exactly_once),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_session_expiry_and_logout),
                cmocka_unit_test(test_dashboard),
                cmocka_unit_test(test_lang),
                cmocka_unit_test(test_users_cli),
                cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_ip_lockout),
                cmocka_unit_test(test_secure_cookies),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
