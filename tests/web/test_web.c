/*
 * test_web.c - komek-web over real HTTP against tasks routed by the real
 * router and task sink (tests/web/wt.c) and the real broker: every route;
 * sign-in, wrong passwords and the throttle per login and address;
 * cookies; CSRF (missing, wrong, another session's token, another
 * origin); access control (another organisation's task by id, by a
 * replayed form; staff vs analyst pages); the state rules of
 * km_task_apply and one task-events message per change on the topic;
 * hostile descriptions, addresses, contacts and notes escaped; session
 * expiry and sign-out; a form with a malformed percent escape refused
 * with 400 (issue 14); the dashboard's figures and CSV against the
 * fixture's facts; the language switch; the users CLI; the notifications
 * komek-notify gave up, in the inbox of their organisation only.
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
#include "wtest.h"

struct wt t;

/* ---- helpers -------------------------------------------------------------- */

int w_req(struct wc_jar *jar, const char *method, const char *path,
          const char *body, const char *extra, struct wc_resp *r)
{
        if (wc_do(t.port, method, path, body, jar, extra, r))
                fail_msg("%s %s: no answer", method, path);
        return r->status;
}

/* GET path, return its status (body dropped). */
int w_get(struct wc_jar *jar, const char *path)
{
        struct wc_resp r;
        int st = w_req(jar, "GET", path, NULL, NULL, &r);

        wc_free(&r);
        return st;
}

/* Sign in: GET /login (its form token and cookie), POST.  @returns the
 * POST's status. */
int w_login(struct wc_jar *jar, const char *user, const char *pw)
{
        struct wc_resp r;
        char tok[128], body[512], u[128], p[256];
        int st;

        memset(jar, 0, sizeof(*jar)); /* a fresh browser */
        assert_int_equal(w_req(jar, "GET", "/login", NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
        wc_free(&r);
        snprintf(body, sizeof(body), "csrf=%s&login=%s&password=%s", tok,
                 wc_urlenc(user, u, sizeof(u)), wc_urlenc(pw, p, sizeof(p)));
        st = w_req(jar, "POST", "/login", body, NULL, &r);
        wc_free(&r);
        return st;
}

/* The session's form token, from a page. */
void w_csrf_of(struct wc_jar *jar, const char *path, char *tok, size_t len)
{
        struct wc_resp r;

        assert_int_equal(w_req(jar, "GET", path, NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, len), 0);
        wc_free(&r);
}

int w_post(struct wc_jar *jar, const char *path, const char *body,
           const char *extra)
{
        struct wc_resp r;
        int st = w_req(jar, "POST", path, body, extra, &r);

        wc_free(&r);
        return st;
}

/* The number in id="name">N< of a page. */
long w_number(const char *html, const char *id)
{
        char pat[64];
        const char *p;

        snprintf(pat, sizeof(pat), "id=\"%s\">", id);
        p = strstr(html, pat);
        if (p == NULL)
                fail_msg("no %s in the page", id);
        return strtol(p + strlen(pat), NULL, 10);
}

void w_sql(const char *sql, const char *arg)
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
        assert_int_equal(w_req(NULL, "GET", "/static/web.css", NULL, NULL, &r),
                         200);
        assert_non_null(wc_header(&r, "Content-Type", h, sizeof(h)));
        assert_non_null(strstr(h, "text/css"));
        wc_free(&r);
        assert_int_equal(w_req(NULL, "GET", "/login", NULL, NULL, &r), 200);
        assert_non_null(wc_header(&r, "Content-Security-Policy", h, sizeof(h)));
        assert_non_null(strstr(h, "default-src 'self'"));
        assert_non_null(strstr(h, "script-src 'none'"));
        assert_string_equal(wc_header(&r, "X-Frame-Options", h, sizeof(h)),
                            "DENY");
        assert_string_equal(
                wc_header(&r, "X-Content-Type-Options", h, sizeof(h)),
                "nosniff");
        assert_string_equal(wc_header(&r, "Cache-Control", h, sizeof(h)),
                            "no-store");
        assert_string_equal(wc_header(&r, "Referrer-Policy", h, sizeof(h)),
                            "same-origin");
        assert_null(strstr(r.body, "<script"));
        assert_null(strstr(r.body, "style=\""));
        wc_free(&r);
        /* unknown routes and methods; pages need a session */
        assert_int_equal(w_get(NULL, "/nope"), 404);
        assert_int_equal(w_req(NULL, "DELETE", "/inbox", NULL, NULL, &r), 405);
        wc_free(&r);
        assert_int_equal(w_req(NULL, "GET", "/inbox", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/login");
        wc_free(&r);
        assert_int_equal(w_get(NULL, "/dashboard"), 303);
        assert_int_equal(w_get(NULL, "/dashboard/summary.csv"), 303);
        assert_int_equal(w_get(NULL, "/"), 303);
        assert_int_equal(w_post(NULL, "/logout", "csrf=x", NULL), 303);
}

static void test_login_and_cookies(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;
        char h[1024], tok[128], body[512];

        (void)state;
        /* the sign-in form's own token: without its cookie, refused */
        assert_int_equal(w_req(&jar, "GET", "/login", NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
        wc_free(&r);
        snprintf(body, sizeof(body), "csrf=%s&login=staff.a&password=%s", tok,
                 "correct+horse+battery+A");
        assert_int_equal(w_post(NULL, "/login", body, NULL), 403);
        /* right: a session cookie, HttpOnly, SameSite=Strict, Path=/ */
        assert_int_equal(w_req(&jar, "POST", "/login", body, NULL, &r), 303);
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
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE id_hash "
                      "= $1",
                      wc_cookie(&jar, "km_session")),
                0);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE id_hash "
                      "= encode(sha256(convert_to($1, 'UTF8')), 'hex')",
                      wc_cookie(&jar, "km_session")),
                1);
        assert_int_equal(w_req(&jar, "GET", "/", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/inbox");
        wc_free(&r);
        assert_int_equal(w_get(&jar, "/login"), 303); /* already signed in */
        /* logins are case-insensitive; passwords are not */
        {
                struct wc_jar j2 = {0};

                assert_int_equal(w_login(&j2, "Staff.A", PW_A), 303);
                assert_int_equal(
                        w_login(&j2, "staff.a", "CORRECT HORSE BATTERY A"),
                        401);
        }
        w_sql("DELETE FROM web_login_throttle", NULL);
}

static void test_wrong_password_and_lockout(void **state)
{
        struct wc_jar jar = {0};
        struct wc_resp r;

        (void)state;
        /* wrong passwords: 401, the same answer for an unknown login */
        for (int i = 0; i < 4; i++)
                assert_int_equal(w_login(&jar, "staff.b", "wrong password!"),
                                 401);
        assert_int_equal(w_login(&jar, "staff.b", PW_B), 303); /* clears */
        assert_int_equal(wt_qn(&t,
                               "SELECT count(*) FROM web_login_throttle WHERE "
                               "login = 'staff.b' AND addr <> ''",
                               NULL),
                         0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(w_login(&jar, "staff.b", "wrong password!"),
                                 401);
        /* this address waits (web.login_delay_s here): even the right
         * password is refused, without a check */
        assert_int_equal(w_login(&jar, "staff.b", PW_B), 429);
        /* an unknown login waits the same way (says nothing of existence) */
        for (int i = 0; i < 5; i++)
                assert_int_equal(w_login(&jar, "nobody.here", "whatever12"),
                                 401);
        assert_int_equal(w_login(&jar, "nobody.here", "whatever12"), 429);
        {
                char tok[128], body[256];

                assert_int_equal(w_req(&jar, "GET", "/login", NULL, NULL, &r),
                                 200);
                assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
                wc_free(&r);
                snprintf(body, sizeof(body), "csrf=%s&login=staff.b&password=x",
                         tok);
                assert_int_equal(w_req(&jar, "POST", "/login", body, NULL, &r),
                                 429);
                assert_non_null(strstr(r.body, "id=\"error\""));
                wc_free(&r);
        }
        /* the delay ends */
        w_sql("UPDATE web_login_throttle SET next_at = now() - interval "
              "'1 second'",
              NULL);
        assert_int_equal(w_login(&jar, "staff.b", PW_B), 303);
        w_sql("DELETE FROM web_login_throttle", NULL);
}

static void test_csrf(void **state)
{
        struct wc_jar a = {0}, b = {0};
        char id[64], path[128], tok_a[128], tok_b[128], body[256];

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_login(&b, "staff.b", PW_B), 303);
        w_csrf_of(&a, "/inbox", tok_a, sizeof(tok_a));
        w_csrf_of(&b, "/inbox", tok_b, sizeof(tok_b));
        assert_string_not_equal(tok_a, tok_b);
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at DESC LIMIT 1 OFFSET 1",
             t.org, id, sizeof(id));
        snprintf(path, sizeof(path), "/tasks/%s/ack", id);
        assert_int_equal(w_post(&a, path, "", NULL), 403);
        assert_int_equal(w_post(&a, path, "csrf=", NULL), 403);
        assert_int_equal(w_post(&a, path,
                                "csrf=00000000000000000000000000000000000"
                                "00000000000000000000000000000",
                                NULL),
                         403);
        snprintf(body, sizeof(body), "csrf=%s", tok_b); /* b's replayed form */
        assert_int_equal(w_post(&a, path, body, NULL), 403);
        snprintf(body, sizeof(body), "csrf=%s", tok_a);
        assert_int_equal(
                w_post(&a, path, body, "Origin: http://evil.example\r\n"), 403);
        /* what a browser sends with referrer policy no-referrer */
        assert_int_equal(w_post(&a, path, body, "Origin: null\r\n"), 403);
        assert_int_equal(w_post(&a, "/logout", "csrf=bad", NULL), 403);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'open'",
                      id),
                1);
        /* the right token from the same origin works */
        {
                char origin[64];

                snprintf(origin, sizeof(origin),
                         "Origin: http://127.0.0.1:%d\r\n", t.port);
                assert_int_equal(w_post(&a, path, body, origin), 303);
        }
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'acknowledged'",
                      id),
                1);
}

static void test_session_expiry_and_logout(void **state)
{
        struct wc_jar a = {0}, b = {0};
        struct wc_resp r;
        char tok[128], body[160], h[128];

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_get(&a, "/inbox"), 200);
        w_sql("UPDATE web_sessions SET expires_at = now() - interval '1 second' "
              "WHERE login = 'staff.a'",
              NULL);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 303);
        assert_string_equal(wc_header(&r, "Location", h, sizeof(h)), "/login");
        wc_free(&r);
        /* idle expiry slides: a request pushes it out, not past the maximum */
        assert_int_equal(w_login(&b, "staff.a", PW_A), 303);
        w_sql("UPDATE web_sessions SET last_seen_at = now() - interval '10 "
              "minutes', expires_at = now() + interval '1 minute' WHERE login = "
              "'staff.a' AND expires_at > now()",
              NULL);
        assert_int_equal(w_get(&b, "/inbox"), 200);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE login = "
                      "'staff.a' AND expires_at > now() + interval "
                      "'50 minutes'",
                      NULL),
                1);
        /* sign-out ends the session on the server too */
        w_csrf_of(&b, "/inbox", tok, sizeof(tok));
        {
                struct wc_jar copy = b;

                snprintf(body, sizeof(body), "csrf=%s", tok);
                assert_int_equal(w_post(&b, "/logout", body, NULL), 303);
                assert_null(wc_cookie(&b, "km_session"));
                assert_int_equal(w_get(&copy, "/inbox"), 303); /* old cookie */
        }
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE login = "
                      "'staff.a' AND expires_at > now()",
                      NULL),
                0);
}

/* Issue 19: the cookie lives as long as the server's session; a sign-in
 * rotates (the session the browser came with ends); at most
 * web.sessions_per_user (3 here) sessions per login, the oldest end. */
static void test_session_lifetime_rotation_cap(void **state)
{
        struct wc_jar a = {0}, before, j[4];
        struct wc_resp r;
        char h[1024], tok[128], body[512];

        (void)state;
        w_sql("DELETE FROM web_sessions WHERE login = 'staff.b'", NULL);
        /* the cookie's Max-Age is the idle lifetime (1 h), not 12 h */
        assert_int_equal(w_req(&a, "GET", "/login", NULL, NULL, &r), 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
        wc_free(&r);
        snprintf(body, sizeof(body), "csrf=%s&login=staff.b&password=%s", tok,
                 "correct+horse+battery+B");
        assert_int_equal(w_req(&a, "POST", "/login", body, NULL, &r), 303);
        wc_set_cookies(&r, h, sizeof(h));
        assert_non_null(strstr(h, "km_session="));
        assert_non_null(strstr(h, "Max-Age=3600;"));
        wc_free(&r);
        /* when the idle expiry slides, the cookie's does too */
        w_sql("UPDATE web_sessions SET last_seen_at = now() - interval '10 "
              "minutes', expires_at = now() + interval '1 minute' WHERE "
              "login = 'staff.b'",
              NULL);
        assert_int_equal(w_req(&a, "GET", "/inbox", NULL, NULL, &r), 200);
        wc_set_cookies(&r, h, sizeof(h));
        if (strstr(h, "km_session=") == NULL ||
            (strstr(h, "Max-Age=3600;") == NULL &&
             strstr(h, "Max-Age=3599;") == NULL))
                fail_msg("got Set-Cookie \"%s\", want km_session with "
                         "Max-Age=3600",
                         h);
        wc_free(&r);
        /* rotation: signing in again from this browser ends its session */
        before = a;
        {
                struct wc_jar pre = {0};

                assert_int_equal(w_req(&pre, "GET", "/login", NULL, NULL, &r),
                                 200);
                assert_int_equal(wc_input(r.body, "csrf", tok, sizeof(tok)), 0);
                wc_free(&r);
                /* the session cookie plus a fresh sign-in form's */
                for (int i = 0; i < pre.n && a.n < WC_MAX_COOKIES; i++) {
                        snprintf(a.name[a.n], sizeof(a.name[0]), "%s",
                                 pre.name[i]);
                        snprintf(a.value[a.n], sizeof(a.value[0]), "%s",
                                 pre.value[i]);
                        a.n++;
                }
        }
        snprintf(body, sizeof(body), "csrf=%s&login=staff.b&password=%s", tok,
                 "correct+horse+battery+B");
        assert_int_equal(w_post(&a, "/login", body, NULL), 303);
        assert_string_not_equal(wc_cookie(&a, "km_session"),
                                wc_cookie(&before, "km_session"));
        assert_int_equal(w_get(&a, "/inbox"), 200);
        assert_int_equal(w_get(&before, "/inbox"), 303); /* the old one */
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE login = "
                      "'staff.b'",
                      NULL),
                1);
        /* the cap: a fourth sign-in ends the oldest of three */
        for (int i = 0; i < 3; i++)
                assert_int_equal(w_login(&j[i], "staff.b", PW_B), 303);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM web_sessions WHERE login = "
                      "'staff.b'",
                      NULL),
                3);
        assert_int_equal(w_get(&a, "/inbox"), 303); /* the oldest */
        for (int i = 0; i < 3; i++)
                assert_int_equal(w_get(&j[i], "/inbox"), 200);
        w_sql("DELETE FROM web_sessions WHERE login = 'staff.b'", NULL);
}

static void test_lang(void **state)
{
        struct wc_jar j = {0};
        struct wc_resp r;

        (void)state;
        assert_int_equal(w_req(&j, "GET", "/login?lang=en", NULL, NULL, &r),
                         200);
        assert_non_null(strstr(r.body, "<html lang=\"en\">"));
        assert_non_null(strstr(r.body, "Sign in"));
        wc_free(&r);
        assert_string_equal(wc_cookie(&j, "km_lang"), "en");
        assert_int_equal(w_req(&j, "GET", "/login", NULL, NULL, &r), 200);
        assert_non_null(strstr(r.body, "Password"));
        wc_free(&r);
        assert_int_equal(w_req(&j, "GET", "/login?lang=ru", NULL, NULL, &r),
                         200);
        assert_non_null(strstr(r.body, "Пароль"));
        wc_free(&r);
        assert_int_equal(w_req(NULL, "GET", "/login?lang=xx", NULL, NULL, &r),
                         200);
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
        assert_int_equal(
                wt_users(&t, NULL, "add", "Bad Login", "--analyst", NULL), 2);
        assert_int_equal(wt_users(&t, NULL, "add", "x1", NULL), 2);
        /* a generated password, printed once */
        assert_int_equal(
                wt_users(&t, &out, "add", "staff.c", "--org", t.org, NULL), 0);
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
        assert_int_equal(w_login(&j, "staff.c", pw), 303);
        assert_int_equal(w_get(&j, "/inbox"), 200);
        assert_int_equal(wt_users(&t, &out, "list", NULL), 0);
        assert_non_null(strstr(out, "staff.c"));
        assert_non_null(strstr(out, "analyst1"));
        assert_null(strstr(out, pw));
        free(out);
        /* disable: sessions end, sign-in refused */
        assert_int_equal(wt_users(&t, NULL, "disable", "staff.c", NULL), 0);
        assert_int_equal(w_get(&j, "/inbox"), 303);
        assert_int_equal(w_login(&k, "staff.c", pw), 401);
        assert_int_equal(wt_users(&t, NULL, "enable", "staff.c", NULL), 0);
        assert_int_equal(w_login(&k, "staff.c", pw), 303);
        /* passwd: the old password and sessions are gone */
        assert_int_equal(wt_users(&t, &out, "passwd", "staff.c", NULL), 0);
        free(out);
        assert_int_equal(w_get(&k, "/inbox"), 303);
        assert_int_equal(w_login(&k, "staff.c", pw), 401);
        assert_int_equal(wt_users(&t, NULL, "disable", "nobody", NULL), 1);
        w_sql("DELETE FROM web_login_throttle", NULL);
}

static void test_too_large(void **state)
{
        struct wc_jar a = {0};
        char *body = km_xmalloc(40000);

        (void)state;
        memset(body, 'a', 39999);
        body[39999] = '\0';
        memcpy(body, "note=", 5);
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_post(&a, "/logout", body, NULL), 413);
        free(body);
}

/* A form komek-web cannot decode exactly - a bad, truncated or %00
 * escape, bytes that are not UTF-8 - is refused with 400 and the reason
 * (common/km_http.c, the gateway's decoder), before any field is read:
 * the task stays open and the session is still signed in. */
static void test_bad_percent(void **state)
{
        static const char *const bad[] = {"note=%zz",  "note=ok%4",
                                          "note=100%", "note=x%00y",
                                          "note=%FF",  "n%zz=1"};
        struct wc_jar a = {0};
        struct wc_resp r;
        char id[64], path[128], tok[128], body[256];

        (void)state;
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        wt_q(&t,
             "SELECT complaint_id FROM tasks WHERE org_id = $1 AND status = "
             "'open' ORDER BY due_at DESC LIMIT 1",
             t.org, id, sizeof(id));
        snprintf(path, sizeof(path), "/tasks/%s/ack", id);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(body, sizeof(body), "csrf=%s&%s", tok, bad[i]);
                if (w_req(&a, "POST", path, body, NULL, &r) != 400 ||
                    strstr(r.body, "invalid_encoding") == NULL)
                        fail_msg("%s: got %d, want 400 invalid_encoding",
                                 bad[i], r.status);
                wc_free(&r);
        }
        /* the sign-in form too: 400, not a failed sign-in */
        assert_int_equal(w_post(NULL, "/login", "login=%zz&password=x", NULL),
                         400);
        assert_int_equal(
                wt_qn(&t,
                      "SELECT count(*) FROM tasks WHERE complaint_id = "
                      "$1::uuid AND status = 'open'",
                      id),
                1);
        /* the same session and token still work */
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_post(&a, "/logout", body, NULL), 303);
}

/* Last: failures from one address, over many logins, make the address
 * wait. */
static void test_ip_lockout(void **state)
{
        struct wc_jar j = {0};
        char user[32];

        (void)state;
        w_sql("DELETE FROM web_login_throttle", NULL);
        for (int i = 0; i < 25; i++) {
                snprintf(user, sizeof(user), "guess%d", i);
                assert_int_equal(w_login(&j, user, "wrong password"), 401);
        }
        assert_int_equal(w_login(&j, "staff.a", PW_A), 429);
        w_sql("DELETE FROM web_login_throttle", NULL);
        assert_int_equal(w_login(&j, "staff.a", PW_A), 303);
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
        assert_int_equal(w_req(NULL, "GET", "/login", NULL, NULL, &r), 200);
        wc_set_cookies(&r, h, sizeof(h));
        assert_non_null(strstr(h, "__Host-km_pre="));
        assert_non_null(strstr(h, "; Secure"));
        assert_non_null(
                wc_header(&r, "Strict-Transport-Security", h, sizeof(h)));
        wc_free(&r);
        assert_int_equal(wt_web_stop(&t), 0);
        t.port = port;
        t.web_pid = pid;
}

/* The session cache: a session ended in the database lives on in a
 * process for at most web.session_cache_ms; signing out in the process
 * ends it there at once. */
static void test_session_cache(void **state)
{
        const char *const extra[] = {"--set", "web.session_cache_ms=60000",
                                     NULL};
        struct wc_jar a = {0}, copy;
        char tok[128], body[160];
        int port = t.port, pid = t.web_pid;

        (void)state;
        assert_int_equal(wt_web_start(&t, extra), 0);
        assert_int_equal(w_login(&a, "staff.a", PW_A), 303);
        assert_int_equal(w_get(&a, "/inbox"), 200);
        copy = a;
        w_csrf_of(&a, "/inbox", tok, sizeof(tok));
        /* ended in the database: this process still trusts it (cached) */
        w_sql("UPDATE web_sessions SET expires_at = now() - interval '1 "
              "second' WHERE login = 'staff.a'",
              NULL);
        assert_int_equal(w_get(&a, "/inbox"), 200);
        snprintf(body, sizeof(body), "csrf=%s", tok);
        assert_int_equal(w_post(&a, "/logout", body, NULL), 303);
        assert_int_equal(w_get(&copy, "/inbox"), 303);
        assert_int_equal(wt_web_stop(&t), 0);
        t.port = port;
        t.web_pid = pid;
}

static int setup(void **state)
{
        const char *const extra[] = {"--set", "web.login_ip_max_failures=25",
                                     "--set", "web.login_delay_s=600",
                                     "--set", "web.sessions_per_user=3",
                                     "--set", "web.cache_s=0",
                                     "--set", "web.live_cache_s=0",
                                     "--set", "web.session_cache_ms=0",
                                     NULL};

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
                cmocka_unit_test(test_session_lifetime_rotation_cap),
                cmocka_unit_test(test_dashboard),
                cmocka_unit_test(test_lang),
                cmocka_unit_test(test_users_cli),
                cmocka_unit_test(test_too_large),
                cmocka_unit_test(test_bad_percent),
                cmocka_unit_test(test_ip_lockout),
                cmocka_unit_test(test_secure_cookies),
                cmocka_unit_test(test_session_cache),
                cmocka_unit_test(test_web_undelivered),
                cmocka_unit_test(test_web_handed_over),
                cmocka_unit_test(
                        test_web_reopened), /* last: it changes a task */
                cmocka_unit_test(test_web_incident), /* changes tasks too */
                cmocka_unit_test(test_web_incident_cache),
                cmocka_unit_test(test_web_pg_jit),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
