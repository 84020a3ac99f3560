/*
 * test_lockout.c - komek-web's sign-in throttle (issue 19,
 * deploy/sql/095_web_throttle.sql) over real HTTP and the real database:
 * an attacker cannot keep a user out (failures from one address; the user
 * at another signs in); a shared proxy address does not lock everyone
 * (failures through the trusted proxy for one client address hold back
 * that pair only); the delay grows and is capped; parallel attempts get
 * exactly the free password checks (check and count in one statement);
 * the lock of a login from every address at web.login_lock_failures and
 * `komek-web users unlock`; a proxy header from a peer that is not the
 * trusted proxy is ignored.
 *
 * Time passing is simulated by moving next_at into the past in the table
 * (web.login_delay_s is 600 here), never by waiting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "wclient.h"
#include "wt.h"

#define PW "correct horse battery L"
#define LOCK_AT 40 /* web.login_lock_failures of the test server */

static struct wt t;

static long t_qn(const char *sql)
{
        return wt_qn(&t, sql, NULL);
}

/* A fresh browser's sign-in form: its token and cookie in jar. */
static void l_form(struct wc_jar *jar, const char *extra, char *tok, size_t len)
{
        struct wc_resp r;

        memset(jar, 0, sizeof(*jar));
        if (wc_do(t.port, "GET", "/login", NULL, jar, extra, &r))
                fail_msg("GET /login: no answer");
        assert_int_equal(r.status, 200);
        assert_int_equal(wc_input(r.body, "csrf", tok, len), 0);
        wc_free(&r);
}

/* Sign in from the current wc_source with extra header lines (NULL-able).
 * @returns the status; the Retry-After value into *retry (NULL-able,
 * 0 if none). */
static int l_login(const char *user, const char *pw, const char *extra,
                   long *retry)
{
        struct wc_jar jar;
        struct wc_resp r;
        char tok[128], body[512], u[128], p[256], h[32];
        int st;

        l_form(&jar, extra, tok, sizeof(tok));
        snprintf(body, sizeof(body), "csrf=%s&login=%s&password=%s", tok,
                 wc_urlenc(user, u, sizeof(u)), wc_urlenc(pw, p, sizeof(p)));
        if (wc_do(t.port, "POST", "/login", body, &jar, extra, &r))
                fail_msg("POST /login: no answer");
        st = r.status;
        if (retry)
                *retry = wc_header(&r, "Retry-After", h, sizeof(h))
                                 ? strtol(h, NULL, 10)
                                 : 0;
        wc_free(&r);
        return st;
}

static void l_sql(const char *sql, const char *arg)
{
        const char *p[1] = {arg};
        char err[512];

        if (km_pg_exec(t.rt.conn, sql, arg ? 1 : 0, p, NULL, err, sizeof(err)))
                fail_msg("%s: %s", sql, err);
}

/* "time passes": every delay of login's pairs is over */
static void l_delay_over(const char *login)
{
        l_sql("UPDATE web_login_throttle SET next_at = now() - interval '1 "
              "second' WHERE login = $1",
              login);
}

static void test_attacker_cannot_keep_user_out(void **state)
{
        long retry = 0;

        (void)state;
        wc_source = "127.0.0.2"; /* the attacker */
        for (int i = 0; i < 5; i++)
                assert_int_equal(
                        l_login("victim", "wrong password!", NULL, NULL), 401);
        assert_int_equal(l_login("victim", "wrong password!", NULL, &retry),
                         429);
        assert_in_range(retry, 590, 600); /* web.login_delay_s */
        /* the attacker's pair waits, even with the right password */
        assert_int_equal(l_login("victim", PW, NULL, NULL), 429);
        /* refused tries are not counted: they cannot grow anything */
        for (int i = 0; i < 10; i++)
                assert_int_equal(
                        l_login("victim", "wrong password!", NULL, NULL), 429);
        assert_int_equal(t_qn("SELECT failures FROM web_login_throttle WHERE "
                              "login = 'victim' AND addr = '127.0.0.2'"),
                         5);
        /* an empty or invalid login is counted as "-", never as the
         * address's row */
        assert_int_equal(l_login("", "wrong password!", NULL, NULL), 401);
        assert_int_equal(l_login("x", "wrong password!", NULL, NULL), 401);
        assert_int_equal(t_qn("SELECT failures FROM web_login_throttle WHERE "
                              "login = '-' AND addr = '127.0.0.2'"),
                         2);
        /* the user, at another address, signs in; again and again */
        wc_source = "127.0.0.1";
        assert_int_equal(l_login("victim", PW, NULL, NULL), 303);
        wc_source = "127.0.0.2";
        assert_int_equal(l_login("victim", "wrong password!", NULL, NULL), 429);
        wc_source = "127.0.0.1";
        assert_int_equal(l_login("victim", PW, NULL, NULL), 303);
        /* the user's own pair was forgotten at each success */
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "login = 'victim' AND addr = '127.0.0.1'"),
                         0);
        wc_source = NULL;
}

static void test_shared_proxy_does_not_lock_everyone(void **state)
{
        const char *a = "X-Forwarded-For: 203.0.113.7\r\n";
        const char *b = "X-Forwarded-For: 198.51.100.20\r\n";
        /* what a client sent before the proxy appended its peer */
        const char *spoof = "X-Forwarded-For: 10.9.9.9, 203.0.113.7\r\n";

        (void)state;
        for (int i = 0; i < 5; i++)
                assert_int_equal(l_login("xuser", "wrong password!", a, NULL),
                                 401);
        assert_int_equal(l_login("xuser", PW, a, NULL), 429);
        assert_int_equal(l_login("xuser", PW, spoof, NULL), 429);
        /* another login at the same client address, and the same login at
         * another client address, through the same proxy */
        assert_int_equal(l_login("yuser", PW, a, NULL), 303);
        assert_int_equal(l_login("xuser", PW, b, NULL), 303);
        /* the throttle holds the client's address, not the proxy's */
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "login = 'xuser' AND addr = '203.0.113.7' AND "
                              "failures = 5"),
                         1);
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "addr = '127.0.0.1' AND login IN ('xuser', "
                              "'yuser')"),
                         0);
}

static void test_growing_delay(void **state)
{
        const char *c = "X-Forwarded-For: 192.0.2.30\r\n";
        long retry = 0, want = 600;

        (void)state;
        for (int i = 0; i < 5; i++)
                assert_int_equal(l_login("guser", "wrong password!", c, NULL),
                                 401);
        /* each further failure doubles the delay, up to
         * web.login_delay_max_s (4000 here) */
        for (int i = 0; i < 5; i++) {
                assert_int_equal(l_login("guser", "wrong password!", c, &retry),
                                 429);
                assert_in_range(retry, want - 10, want);
                l_delay_over("guser");
                assert_int_equal(l_login("guser", "wrong password!", c, NULL),
                                 401);
                want = want * 2 > 4000 ? 4000 : want * 2;
        }
        assert_int_equal(l_login("guser", "wrong password!", c, &retry), 429);
        assert_in_range(retry, 3990, 4000);
        /* a right password after the wait signs in and forgets the pair */
        l_delay_over("guser");
        assert_int_equal(l_login("guser", PW, c, NULL), 303);
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "login = 'guser' AND addr <> ''"),
                         0);
}

/* ---- parallel attempts ------------------------------------------------- */

#define NPAR 30

struct l_par {
        struct wc_jar jar;
        char body[512];
        int status;
};

static void *l_par_post(void *arg)
{
        struct l_par *p = arg;
        struct wc_resp r;

        p->status = -1;
        if (wc_do(t.port, "POST", "/login", p->body, &p->jar,
                  "X-Forwarded-For: 192.0.2.99\r\n", &r) == 0) {
                p->status = r.status;
                wc_free(&r);
        }
        return NULL;
}

static void test_parallel_attempts_counted_once(void **state)
{
        static struct l_par par[NPAR];
        pthread_t th[NPAR];
        char tok[128];
        int n401 = 0, n429 = 0;

        (void)state;
        for (int i = 0; i < NPAR; i++) {
                l_form(&par[i].jar, NULL, tok, sizeof(tok));
                snprintf(par[i].body, sizeof(par[i].body),
                         "csrf=%s&login=puser&password=wrong+password", tok);
        }
        for (int i = 0; i < NPAR; i++)
                assert_int_equal(
                        pthread_create(&th[i], NULL, l_par_post, &par[i]), 0);
        for (int i = 0; i < NPAR; i++)
                pthread_join(th[i], NULL);
        for (int i = 0; i < NPAR; i++) {
                n401 += par[i].status == 401;
                n429 += par[i].status == 429;
        }
        /* exactly web.login_max_failures password checks */
        if (n401 != 5 || n429 != NPAR - 5)
                fail_msg("got %d x 401 and %d x 429, want 5 and %d", n401, n429,
                         NPAR - 5);
        assert_int_equal(t_qn("SELECT failures FROM web_login_throttle WHERE "
                              "login = 'puser' AND addr = '192.0.2.99'"),
                         5);
}

/* ---- the lock of a login from every address ---------------------------- */

static void test_global_lock_and_unlock(void **state)
{
        char hdr[80], *out = NULL;
        long retry = 0;
        int n = 0;

        (void)state;
        /* LOCK_AT failures from LOCK_AT / 5 addresses, none of them past
         * its pair's limit */
        for (int a = 0; n < LOCK_AT; a++)
                for (int i = 0; i < 5 && n < LOCK_AT; i++, n++) {
                        snprintf(hdr, sizeof(hdr),
                                 "X-Forwarded-For: 198.18.0.%d\r\n", a + 1);
                        assert_int_equal(
                                l_login("zuser", "wrong password!", hdr, NULL),
                                401);
                }
        /* now locked from everywhere, a fresh address with the right
         * password too */
        assert_int_equal(
                l_login("zuser", PW, "X-Forwarded-For: 198.18.1.1\r\n", &retry),
                429);
        assert_in_range(retry, 3590, 3600); /* web.login_lock_s */
        /* other logins are not */
        assert_int_equal(
                l_login("yuser", PW, "X-Forwarded-For: 198.18.1.1\r\n", NULL),
                303);
        /* unlock: an unknown login is refused, a known one cleared */
        assert_int_equal(wt_users(&t, NULL, "unlock", "no.such.login", NULL),
                         1);
        assert_int_equal(wt_users(&t, &out, "unlock", "zuser", NULL), 0);
        assert_non_null(strstr(out, "zuser unlocked"));
        free(out);
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "login = 'zuser'"),
                         0);
        assert_int_equal(
                l_login("zuser", PW, "X-Forwarded-For: 198.18.1.1\r\n", NULL),
                303);
}

/* A proxy header from a peer that is not web.trusted_proxy: ignored. */
static void test_spoofed_header_ignored(void **state)
{
        const char *const extra[] = {"--set", "web.trusted_proxy=127.0.0.9",
                                     "--set", "web.login_delay_s=600", NULL};
        int port = t.port, pid = t.web_pid;
        char hdr[80];

        (void)state;
        assert_int_equal(wt_web_start(&t, extra), 0);
        for (int i = 0; i < 5; i++) {
                snprintf(hdr, sizeof(hdr), "X-Forwarded-For: 192.0.2.%d\r\n",
                         100 + i);
                assert_int_equal(l_login("suser", "wrong password!", hdr, NULL),
                                 401);
        }
        assert_int_equal(
                l_login("suser", PW, "X-Forwarded-For: 192.0.2.200\r\n", NULL),
                429);
        assert_int_equal(t_qn("SELECT count(*) FROM web_login_throttle WHERE "
                              "login = 'suser' AND addr <> '127.0.0.1' AND "
                              "addr <> ''"),
                         0);
        assert_int_equal(wt_web_stop(&t), 0);
        t.port = port;
        t.web_pid = pid;
        /* and a trusted_proxy that is no address is a configuration
         * error (exit 2) */
        assert_int_equal(wt_users(&t, NULL, "list", "--set",
                                  "web.trusted_proxy=proxy.local", NULL),
                         2);
}

static int setup(void **state)
{
        const char *const extra[] = {"--set", "web.trusted_proxy=127.0.0.1",
                                     "--set", "web.login_delay_s=600",
                                     "--set", "web.login_delay_max_s=4000",
                                     "--set", "web.login_lock_failures=40",
                                     "--set", "web.per_ip_connections=64",
                                     "--set", "web.session_cache_ms=0",
                                     NULL};
        const char *users[] = {"victim", "xuser", "yuser", "guser",
                               "zuser",  "suser", NULL};

        (void)state;
        memset(&t, 0, sizeof(t));
        t.web_pid = -1;
        if (rt_setup(&t.rt, "lockout"))
                return -1;
        for (int i = 0; users[i]; i++)
                if (wt_user(&t, users[i], NULL, PW))
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
                cmocka_unit_test(test_attacker_cannot_keep_user_out),
                cmocka_unit_test(test_shared_proxy_does_not_lock_everyone),
                cmocka_unit_test(test_growing_delay),
                cmocka_unit_test(test_parallel_attempts_counted_once),
                cmocka_unit_test(test_global_lock_and_unlock),
                cmocka_unit_test(test_spoofed_header_ignored),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
