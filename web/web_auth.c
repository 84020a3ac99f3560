/*
 * web_auth.c - passwords, sign-in with lock-out, sessions and CSRF.
 *
 * SECURITY:
 * - Passwords: PBKDF2-HMAC-SHA256 (OpenSSL PKCS5_PBKDF2_HMAC), a random
 *   16-byte salt, web.pbkdf2_iterations (>= 200,000) stored with the hash
 *   ("pbkdf2_sha256$N$salt$hash"), compared in constant time.  An unknown
 *   or disabled login costs the same hash, and the answer is the same.
 * - Throttle, not lock-out (deploy/sql/095_web_throttle.sql): failures
 *   are counted per (login, client address) pair: past
 *   web.login_max_failures each further try waits a doubling delay (429
 *   with Retry-After, no password check); the same per address over all
 *   logins past web.login_ip_max_failures; and a login is locked from
 *   every address only at web.login_lock_failures within
 *   web.login_lock_window_s (`komek-web users unlock`).  So an attacker
 *   slows down himself, not the user at another address.  The check and
 *   the count are one statement: an attempt counts before its password is
 *   checked and is taken back when it was right.  Logins are counted
 *   known or not.  The client address is the peer's, or the trusted
 *   proxy's header (web_http.c web_client_ip).
 * - Sessions: the cookie holds 32 random bytes (hex); the table holds
 *   their SHA-256 and the expiry (absolute web.session_max_s, idle
 *   web.session_idle_s); the cookie's Max-Age is the same, renewed when
 *   the idle expiry slides.  A new id at every sign-in, and the session
 *   the request came with ends (no fixation); at most
 *   web.sessions_per_user per login (a sign-in ends the oldest).
 *   Cookies are HttpOnly, SameSite=Strict, Path=/ and Secure (with the
 *   __Host- prefix) unless web.cookie_secure is off (http on loopback).
 * - CSRF: every POST but the sign-in carries the session's random token,
 *   compared in constant time; the sign-in form uses a double-submit
 *   cookie.  Nothing here logs a password, a token or a cookie.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_hash.h"
#include "km_http.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "web.h"

#define WEB_SALT_LEN 16
#define WEB_HASH_LEN 32

static void web_hex(const unsigned char *in, size_t n, char *out)
{
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* @returns 0, or KM_EINPUT if in is not 2 * n hex digits. */
static int web_unhex(const char *in, unsigned char *out, size_t n)
{
        if (strlen(in) != 2 * n)
                return KM_EINPUT;
        for (size_t i = 0; i < n; i++) {
                unsigned v;

                if (sscanf(in + 2 * i, "%2x", &v) != 1)
                        return KM_EINPUT;
                out[i] = (unsigned char)v;
        }
        return 0;
}

/* @returns 0, or KM_EFATAL if OpenSSL failed. */
static int web_pbkdf2(const char *pw, const unsigned char *salt,
                      int64_t iterations, unsigned char *out)
{
        return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, WEB_SALT_LEN,
                                 (int)iterations, EVP_sha256(), WEB_HASH_LEN,
                                 out) == 1
                       ? 0
                       : KM_EFATAL;
}

int web_password_hash(const char *pw, int64_t iterations, char *out,
                      size_t outlen, char *err, size_t errlen)
{
        unsigned char salt[WEB_SALT_LEN], hash[WEB_HASH_LEN];
        char hs[2 * WEB_SALT_LEN + 1], hh[2 * WEB_HASH_LEN + 1];

        if (strlen(pw) < WEB_PASSWORD_MIN || strlen(pw) > WEB_PASSWORD_MAX)
                return km_err_set(err, errlen, KM_EINPUT,
                                  "a password has %d to %d bytes",
                                  WEB_PASSWORD_MIN, WEB_PASSWORD_MAX);
        if (RAND_bytes(salt, sizeof(salt)) != 1 ||
            web_pbkdf2(pw, salt, iterations, hash))
                return km_err_set(err, errlen, KM_EFATAL,
                                  "OpenSSL: random bytes or PBKDF2 failed");
        web_hex(salt, sizeof(salt), hs);
        web_hex(hash, sizeof(hash), hh);
        snprintf(out, outlen, "pbkdf2_sha256$%lld$%s$%s", (long long)iterations,
                 hs, hh);
        OPENSSL_cleanse(hash, sizeof(hash));
        return 0;
}

/* @returns 1 if pw matches stored.  A malformed stored value never does. */
int web_password_verify(const char *pw, const char *stored)
{
        unsigned char salt[WEB_SALT_LEN], want[WEB_HASH_LEN], got[WEB_HASH_LEN];
        char hs[2 * WEB_SALT_LEN + 1], hh[2 * WEB_HASH_LEN + 1];
        long long iter;
        int ok;

        if (sscanf(stored, "pbkdf2_sha256$%lld$%32[0-9a-f]$%64[0-9a-f]", &iter,
                   hs, hh) != 3 ||
            iter < 1 || iter > 100000000 || web_unhex(hs, salt, sizeof(salt)) ||
            web_unhex(hh, want, sizeof(want)) ||
            web_pbkdf2(pw, salt, iter, got))
                return 0;
        ok = CRYPTO_memcmp(want, got, sizeof(got)) == 0;
        OPENSSL_cleanse(got, sizeof(got));
        return ok;
}

/* The same work as a real check, for unknown logins. */
static void web_password_dummy(const struct web *w, const char *pw)
{
        unsigned char salt[WEB_SALT_LEN] = {0}, got[WEB_HASH_LEN];

        (void)web_pbkdf2(pw, salt, w->wc->pbkdf2_iterations, got);
}

/* ---- throttle (deploy/sql/095_web_throttle.sql) ---------------------- */

/* Check and count one attempt of login from c->ip in one statement.
 * @returns 0 (go on: counted as a failure until web_throttle_ok), the
 * seconds to wait (> 0), or KM_ERETRY when the database cannot say (the
 * caller answers 503: no password check without the count). */
static long web_throttle(struct web_ctx *c, PGconn *conn, const char *login)
{
        const struct web_conf *wc = c->w->wc;
        char v[8][24], err[256];
        const char *p[10] = {login, c->ip, v[0], v[1], v[2],
                             v[3],  v[4],  v[5], v[6], v[7]};
        const int64_t n[8] = {
                wc->login_max_failures,  wc->login_ip_max_failures,
                wc->login_delay_s,       wc->login_delay_max_s,
                wc->login_window_s,      wc->login_lock_failures,
                wc->login_lock_window_s, wc->login_lock_s};
        PGresult *res = NULL;
        long s = KM_ERETRY;

        for (int i = 0; i < 8; i++)
                snprintf(v[i], sizeof(v[i]), "%lld", (long long)n[i]);
        if (web_pg_prepared(conn, "web_throttle",
                            "SELECT web_login_attempt($1, $2, $3::int, "
                            "$4::int, $5::int, $6::int, $7::int, $8::int, "
                            "$9::int, $10::int)",
                            10, p, &res, err, sizeof(err)) == 0)
                s = atol(PQgetvalue(res, 0, 0));
        else
                km_log_warn("sign-in throttle: %s", err);
        PQclear(res);
        return s;
}

/* The password was right: forget the pair, take the attempt back. */
static void web_throttle_ok(struct web_ctx *c, PGconn *conn, const char *login)
{
        char lock[24], err[256];
        const char *p[3] = {login, c->ip, lock};

        snprintf(lock, sizeof(lock), "%lld",
                 (long long)c->w->wc->login_lock_failures);
        if (km_pg_exec(conn, "SELECT web_login_succeeded($1, $2, $3::int)", 3,
                       p, NULL, err, sizeof(err)))
                km_log_warn("sign-in throttle: %s", err);
}

/* ---- sign-in ---------------------------------------------------------- */

static int web_login_valid(const char *s)
{
        size_t n = strlen(s);

        if (n < 2 || n > WEB_LOGIN_MAX)
                return 0;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                      (i > 0 && (ch == '.' || ch == '_' || ch == '-'))))
                        return 0;
        }
        return 1;
}

void web_login_get(struct web_ctx *c)
{
        if (c->has_session)
                web_redirect(c, "/");
        else
                web_page_login(c, 200, M_COUNT);
}

/* A new session for login: a new id (the request's old session, if any,
 * ends: no fixation), at most web.sessions_per_user of the login's (the
 * oldest end), and a cookie that lives as long as the server's session
 * (the idle expiry; web_session_load renews it when that slides).
 * @returns 0 or KM_E* (logged). */
static int web_session_new(struct web_ctx *c, PGconn *conn, const char *login)
{
        const struct web_conf *wc = c->w->wc;
        char id[WEB_TOKEN_HEX + 1], csrf[WEB_TOKEN_HEX + 1], hash[65];
        char max[24], idle[24], cap[24], err[256], name[64];
        const char *p[7] = {hash,
                            login,
                            csrf,
                            max,
                            idle,
                            cap,
                            c->has_session ? c->s.id_hash : NULL};
        PGresult *res = NULL;
        int r;

        if ((r = web_hex_token(id, sizeof(id))) ||
            (r = web_hex_token(csrf, sizeof(csrf)))) {
                km_log_error("session: no random bytes (OpenSSL)");
                return r;
        }
        km_hash_sha256_hex(id, strlen(id), hash);
        snprintf(max, sizeof(max), "%lld", (long long)wc->session_max_s);
        snprintf(idle, sizeof(idle), "%lld", (long long)wc->session_idle_s);
        snprintf(cap, sizeof(cap), "%lld", (long long)wc->sessions_per_user);
        /* the CTEs share one snapshot: "cap" sees the login's sessions
         * before this one, so it keeps the newest cap - 1 of them */
        if ((r = km_pg_exec(
                     conn,
                     "WITH old AS (DELETE FROM web_sessions WHERE id_hash "
                     "= $7::text RETURNING id_hash), ins AS (INSERT INTO "
                     "web_sessions (id_hash, login, csrf, expires_at) "
                     "VALUES ($1, $2, $3, now() + least($4::int, $5::int) "
                     "* interval '1 second')), cap AS (DELETE FROM "
                     "web_sessions WHERE id_hash IN (SELECT id_hash FROM "
                     "web_sessions WHERE login = $2 AND id_hash IS "
                     "DISTINCT FROM $7::text ORDER BY created_at DESC, "
                     "id_hash DESC OFFSET $6::int - 1) RETURNING id_hash) "
                     "SELECT id_hash FROM old UNION ALL SELECT id_hash "
                     "FROM cap",
                     7, p, &res, err, sizeof(err)))) {
                km_log_warn("session: %s", err);
                return r;
        }
        for (int i = 0; i < PQntuples(res); i++) /* ended here at once */
                web_scache_drop(c->w->scache, PQgetvalue(res, i, 0));
        PQclear(res);
        c->has_session = 0;
        web_cookie(c, web_cookie_name(c->w, "km_session", name, sizeof(name)),
                   id,
                   wc->session_max_s < wc->session_idle_s ? wc->session_max_s
                                                          : wc->session_idle_s);
        web_cookie(c, web_cookie_name(c->w, "km_pre", name, sizeof(name)), "",
                   0);
        return 0;
}

void web_login_post(struct web_ctx *c)
{
        struct web *w = c->w;
        char *login = km_http_form_get(c->body, c->blen, "login");
        char *pw = km_http_form_get(c->body, c->blen, "password");
        char *tok = km_http_form_get(c->body, c->blen, "csrf");
        char err[256], name[64];
        const char *pre = MHD_lookup_connection_value(
                c->mc, MHD_COOKIE_KIND,
                web_cookie_name(w, "km_pre", name, sizeof(name)));
        const char *p1[1];
        PGresult *res = NULL;
        PGconn *conn = NULL;
        int ok = 0, known = 0;
        long wait;

        if (tok == NULL || pre == NULL || !km_hash_equal(tok, pre)) {
                web_page_login(c, 403, M_FORM_EXPIRED);
                goto cleanup;
        }
        if (login == NULL || pw == NULL || strlen(pw) > WEB_PASSWORD_MAX) {
                web_page_login(c, 401, M_BAD_LOGIN);
                goto cleanup;
        }
        for (char *s = login; *s; s++) /* logins are lower case */
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
        /* an invalid login: one throttle key for all (never "", which is
         * an address's row in web_login_throttle) */
        if (!web_login_valid(login)) {
                free(login);
                login = km_xstrdup("-");
        }
        if ((conn = web_pg_get(&w->staff, err, sizeof(err))) == NULL) {
                km_log_warn("sign-in: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        if ((wait = web_throttle(c, conn, login)) != 0) {
                if (wait < 0) {
                        web_page_error(c, 503, M_UNAVAILABLE, NULL);
                        goto cleanup;
                }
                km_metric_add(w->m_logins[2], 1);
                km_log_info("sign-in refused: wait %lds (%s)", wait, c->ip);
                snprintf(c->retry_after, sizeof(c->retry_after), "%ld", wait);
                web_page_login(c, 429, M_LOCKED);
                goto cleanup;
        }
        p1[0] = login;
        if (km_pg_exec(conn,
                       "SELECT password, disabled FROM web_users WHERE login "
                       "= $1",
                       1, p1, &res, err, sizeof(err))) {
                km_log_warn("sign-in: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        known = PQntuples(res) == 1;
        if (known)
                ok = web_password_verify(pw, PQgetvalue(res, 0, 0)) &&
                     PQgetvalue(res, 0, 1)[0] == 'f';
        else
                web_password_dummy(w, pw);
        if (!ok) { /* counted by web_throttle already */
                km_metric_add(w->m_logins[1], 1);
                km_log_info("sign-in failed from %s", c->ip);
                web_page_login(c, 401, M_BAD_LOGIN);
                goto cleanup;
        }
        web_throttle_ok(c, conn, login);
        if (km_pg_exec(conn,
                       "UPDATE web_users SET last_login_at = now() WHERE "
                       "login = $1",
                       1, p1, NULL, err, sizeof(err)))
                km_log_warn("sign-in: %s", err);
        if (web_session_new(c, conn, login)) {
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        km_metric_add(w->m_logins[0], 1);
        km_log_info("signed in: %s from %s", login, c->ip);
        web_redirect(c, "/");
cleanup:
        PQclear(res);
        km_pgpool_put_conn(&w->staff, conn);
        if (pw) {
                OPENSSL_cleanse(pw, strlen(pw));
                free(pw);
        }
        free(login);
        free(tok);
}

void web_logout(struct web_ctx *c)
{
        char err[256], name[64];
        const char *p[1] = {c->s.id_hash};
        PGconn *conn;

        if (c->has_session)
                web_scache_drop(c->w->scache, c->s.id_hash);
        if (c->has_session &&
            (conn = web_pg_get(&c->w->staff, err, sizeof(err))) != NULL) {
                if (km_pg_exec(conn,
                               "DELETE FROM web_sessions WHERE id_hash = $1", 1,
                               p, NULL, err, sizeof(err)))
                        km_log_warn("sign-out: %s", err);
                km_pgpool_put_conn(&c->w->staff, conn);
        }
        web_cookie(c, web_cookie_name(c->w, "km_session", name, sizeof(name)),
                   "", 0);
        c->has_session = 0;
        web_redirect(c, "/login");
}

/* ---- sessions --------------------------------------------------------- */

static int web_token_hex(const char *s)
{
        if (s == NULL || strlen(s) != WEB_TOKEN_HEX)
                return 0;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return 0;
        return 1;
}

/* @returns 1 with c->s filled, 0 without a valid session, KM_ERETRY or
 * KM_EFATAL when the database cannot say. */
int web_session_load(struct web_ctx *c)
{
        const struct web_conf *wc = c->w->wc;
        char name[64], err[256], max[24], idle[24];
        const char *id = MHD_lookup_connection_value(
                c->mc, MHD_COOKIE_KIND,
                web_cookie_name(c->w, "km_session", name, sizeof(name)));
        const char *p[3] = {c->s.id_hash, max, idle};
        PGresult *res = NULL;
        PGconn *conn;
        int r = 0;

        if (!web_token_hex(id))
                return 0;
        km_hash_sha256_hex(id, strlen(id), c->s.id_hash);
        if (web_scache_get(c->w->scache, wc->session_cache_ms, &c->s)) {
                c->has_session = 1;
                return 1;
        }
        if ((conn = web_pg_get(&c->w->staff, err, sizeof(err))) == NULL) {
                km_log_warn("session: %s", err);
                return KM_ERETRY;
        }
        if ((r = web_pg_prepared(
                     conn, "web_session",
                     "SELECT s.login, u.role, coalesce(u.org_id, ''), "
                     "s.csrf, s.last_seen_at < now() - interval '30 "
                     "seconds', coalesce(o.name, ''), extract(epoch FROM "
                     "s.expires_at)::bigint FROM web_sessions s "
                     "JOIN web_users u ON u.login = s.login LEFT JOIN "
                     "organisations o ON o.id = u.org_id WHERE s.id_hash = "
                     "$1 AND s.expires_at > now() AND NOT u.disabled",
                     1, p, &res, err, sizeof(err)))) {
                km_log_warn("session: %s", err);
                goto cleanup;
        }
        if (PQntuples(res) != 1)
                goto cleanup;
        snprintf(c->s.login, sizeof(c->s.login), "%s", PQgetvalue(res, 0, 0));
        snprintf(c->s.role, sizeof(c->s.role), "%s", PQgetvalue(res, 0, 1));
        snprintf(c->s.org, sizeof(c->s.org), "%s", PQgetvalue(res, 0, 2));
        snprintf(c->s.csrf, sizeof(c->s.csrf), "%s", PQgetvalue(res, 0, 3));
        snprintf(c->s.org_name, sizeof(c->s.org_name), "%s",
                 PQgetvalue(res, 0, 5));
        c->has_session = 1;
        r = 1;
        web_scache_put(c->w->scache, &c->s, atoll(PQgetvalue(res, 0, 6)));
        if (PQgetvalue(res, 0, 4)[0] == 't') { /* slide the idle expiry */
                snprintf(max, sizeof(max), "%lld",
                         (long long)wc->session_max_s);
                snprintf(idle, sizeof(idle), "%lld",
                         (long long)wc->session_idle_s);
                PQclear(res);
                res = NULL;
                if (km_pg_exec(conn,
                               "UPDATE web_sessions SET last_seen_at = now(), "
                               "expires_at = least(created_at + $2::int * "
                               "interval '1 second', now() + $3::int * "
                               "interval '1 second') WHERE id_hash = $1 AND "
                               "expires_at > now() RETURNING ceil(extract("
                               "epoch FROM expires_at - now()))::bigint",
                               3, p, &res, err, sizeof(err)))
                        km_log_warn("session: %s", err);
                else if (PQntuples(res) == 1) /* the cookie slides too */
                        web_cookie(c, name, id, atoll(PQgetvalue(res, 0, 0)));
        }
cleanup:
        PQclear(res);
        km_pgpool_put_conn(&c->w->staff, conn);
        return r;
}

/* The POST's form token against the session's. */
int web_csrf_ok(struct web_ctx *c)
{
        char *tok = km_http_form_get(c->body, c->blen, "csrf");
        int ok = c->has_session && tok && km_hash_equal(tok, c->s.csrf);

        free(tok);
        return ok;
}

/* Forget expired sessions and old failure counts (main loop, each minute):
 * a row whose failures are older than both windows and whose delay and
 * lock are over. */
void web_sessions_gc(struct web *w)
{
        char err[256], keep[24];
        const char *p[1] = {keep};
        PGconn *conn = web_pg_get(&w->staff, err, sizeof(err));

        if (conn == NULL)
                return;
        snprintf(keep, sizeof(keep), "%lld",
                 (long long)(w->wc->login_window_s > w->wc->login_lock_window_s
                                     ? w->wc->login_window_s
                                     : w->wc->login_lock_window_s));
        if (km_pg_exec(conn,
                       "DELETE FROM web_sessions WHERE expires_at < now()", 0,
                       NULL, NULL, err, sizeof(err)) ||
            km_pg_exec(conn,
                       "DELETE FROM web_login_throttle WHERE last_at < now() "
                       "- $1::int * interval '1 second' AND (next_at IS NULL "
                       "OR next_at < now()) AND (locked_until IS NULL OR "
                       "locked_until < now())",
                       1, p, NULL, err, sizeof(err)))
                km_log_warn("cleanup: %s", err);
        km_pgpool_put_conn(&w->staff, conn);
}
