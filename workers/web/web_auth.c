/*
 * web_auth.c - passwords, sign-in with lock-out, sessions and CSRF.
 *
 * SECURITY:
 * - Passwords: PBKDF2-HMAC-SHA256 (OpenSSL PKCS5_PBKDF2_HMAC), a random
 *   16-byte salt, web.pbkdf2_iterations (>= 200,000) stored with the hash
 *   ("pbkdf2_sha256$N$salt$hash"), compared in constant time.  An unknown
 *   or disabled login costs the same hash, and the answer is the same.
 * - Lock-out: failed sign-ins are counted per login name (known or not)
 *   and per client address within web.login_window_s; at the limit the
 *   key is locked for web.login_lock_s and its sign-ins are refused (429)
 *   without looking at the password.  A success clears the login's count.
 * - Sessions: the cookie holds 32 random bytes (hex); the table holds
 *   their SHA-256 and the expiry (absolute web.session_max_s, idle
 *   web.session_idle_s).  A new id at every sign-in (no fixation).
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

static int web_unhex(const char *in, unsigned char *out, size_t n)
{
        if (strlen(in) != 2 * n)
                return -1;
        for (size_t i = 0; i < n; i++) {
                unsigned v;

                if (sscanf(in + 2 * i, "%2x", &v) != 1)
                        return -1;
                out[i] = (unsigned char)v;
        }
        return 0;
}

static int web_pbkdf2(const char *pw, const unsigned char *salt,
                      int64_t iterations, unsigned char *out)
{
        return PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, WEB_SALT_LEN,
                                 (int)iterations, EVP_sha256(), WEB_HASH_LEN,
                                 out) == 1
                   ? 0
                   : -1;
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
        snprintf(out, outlen, "pbkdf2_sha256$%lld$%s$%s",
                 (long long)iterations, hs, hh);
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

/* ---- lock-out --------------------------------------------------------- */

/* Seconds the user or address is still locked, 0 if not (or on error:
 * the password check still applies). */
static long web_locked(struct web_ctx *c, PGconn *conn, const char *ukey,
                       const char *ikey)
{
        const char *p[2] = {ukey, ikey};
        PGresult *res = NULL;
        char err[256];
        long s = 0;

        if (km_pg_exec(conn,
                       "SELECT coalesce(max(ceil(extract(epoch FROM "
                       "locked_until - now())))::bigint, 0) FROM "
                       "web_login_failures WHERE key IN ($1, $2) AND "
                       "locked_until > now()",
                       2, p, &res, err, sizeof(err)) == 0)
                s = atol(PQgetvalue(res, 0, 0));
        else
                km_log_warn("lock-out check: %s", err);
        PQclear(res);
        (void)c;
        return s;
}

static void web_failure(struct web_ctx *c, PGconn *conn, const char *key,
                        int64_t max)
{
        const struct web_conf *wc = c->w->wc;
        char window[24], lock[24], mx[24], err[256];
        const char *p[4] = {key, window, lock, mx};

        snprintf(window, sizeof(window), "%lld", (long long)wc->login_window_s);
        snprintf(lock, sizeof(lock), "%lld", (long long)wc->login_lock_s);
        snprintf(mx, sizeof(mx), "%lld", (long long)max);
        if (km_pg_exec(conn,
                       "INSERT INTO web_login_failures AS f (key, failures, "
                       "first_at, locked_until) VALUES ($1, 1, now(), CASE "
                       "WHEN $4::int <= 1 THEN now() + $3::int * interval "
                       "'1 second' END) ON CONFLICT (key) DO UPDATE SET "
                       "failures = CASE WHEN f.first_at < now() - $2::int * "
                       "interval '1 second' THEN 1 ELSE f.failures + 1 END, "
                       "first_at = CASE WHEN f.first_at < now() - $2::int * "
                       "interval '1 second' THEN now() ELSE f.first_at END, "
                       "locked_until = CASE WHEN (CASE WHEN f.first_at < now() "
                       "- $2::int * interval '1 second' THEN 1 ELSE "
                       "f.failures + 1 END) >= $4::int THEN now() + $3::int * "
                       "interval '1 second' ELSE NULL END",
                       4, p, NULL, err, sizeof(err)))
                km_log_warn("lock-out count: %s", err);
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

static int web_session_new(struct web_ctx *c, PGconn *conn, const char *login)
{
        char id[WEB_TOKEN_HEX + 1], csrf[WEB_TOKEN_HEX + 1], hash[65];
        char max[24], idle[24], err[256], name[64];
        const char *p[5] = {hash, login, csrf, max, idle};

        if (web_hex_token(id, sizeof(id)) || web_hex_token(csrf, sizeof(csrf)))
                return -1;
        web_sha256_hex(id, hash);
        snprintf(max, sizeof(max), "%lld", (long long)c->w->wc->session_max_s);
        snprintf(idle, sizeof(idle), "%lld",
                 (long long)c->w->wc->session_idle_s);
        if (km_pg_exec(conn,
                       "INSERT INTO web_sessions (id_hash, login, csrf, "
                       "expires_at) VALUES ($1, $2, $3, now() + least($4::int, "
                       "$5::int) * interval '1 second')",
                       5, p, NULL, err, sizeof(err))) {
                km_log_warn("session: %s", err);
                return -1;
        }
        web_cookie(c, web_cookie_name(c->w, "km_session", name, sizeof(name)),
                   id, c->w->wc->session_max_s);
        web_cookie(c, web_cookie_name(c->w, "km_pre", name, sizeof(name)), "",
                   0);
        return 0;
}

void web_login_post(struct web_ctx *c)
{
        struct web *w = c->w;
        char *login = web_form_get(c->body, "login");
        char *pw = web_form_get(c->body, "password");
        char *tok = web_form_get(c->body, "csrf");
        char ukey[WEB_LOGIN_MAX + 8], ikey[80], err[256], name[64];
        const char *pre = MHD_lookup_connection_value(
            c->mc, MHD_COOKIE_KIND,
            web_cookie_name(w, "km_pre", name, sizeof(name)));
        const char *p1[1];
        PGresult *res = NULL;
        PGconn *conn = NULL;
        int ok = 0, known = 0;

        if (tok == NULL || pre == NULL || !web_ct_equal(tok, pre)) {
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
        if (!web_login_valid(login))
                snprintf(login, strlen(login) + 1, "%s", "-");
        snprintf(ukey, sizeof(ukey), "user:%s", login);
        snprintf(ikey, sizeof(ikey), "ip:%s", c->ip);
        if ((conn = web_pool_get(&w->staff, err, sizeof(err))) == NULL) {
                km_log_warn("sign-in: %s", err);
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        if (web_locked(c, conn, ukey, ikey) > 0) {
                km_metric_add(w->m_logins[2], 1);
                km_log_info("sign-in refused: locked (%s)", c->ip);
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
        if (!ok) {
                web_failure(c, conn, ukey, w->wc->login_max_failures);
                web_failure(c, conn, ikey, w->wc->login_ip_max_failures);
                km_metric_add(w->m_logins[1], 1);
                km_log_info("sign-in failed from %s", c->ip);
                web_page_login(c, 401, M_BAD_LOGIN);
                goto cleanup;
        }
        {
                const char *p2[1] = {ukey};

                if (km_pg_exec(conn,
                               "DELETE FROM web_login_failures WHERE key = $1",
                               1, p2, NULL, err, sizeof(err)) ||
                    km_pg_exec(conn,
                               "UPDATE web_users SET last_login_at = now() "
                               "WHERE login = $1",
                               1, p1, NULL, err, sizeof(err)))
                        km_log_warn("sign-in: %s", err);
        }
        if (web_session_new(c, conn, login)) {
                web_page_error(c, 503, M_UNAVAILABLE, NULL);
                goto cleanup;
        }
        km_metric_add(w->m_logins[0], 1);
        km_log_info("signed in: %s from %s", login, c->ip);
        web_redirect(c, "/");
cleanup:
        PQclear(res);
        web_pool_put(&w->staff, conn);
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
            (conn = web_pool_get(&c->w->staff, err, sizeof(err))) != NULL) {
                if (km_pg_exec(conn,
                               "DELETE FROM web_sessions WHERE id_hash = $1", 1,
                               p, NULL, err, sizeof(err)))
                        km_log_warn("sign-out: %s", err);
                web_pool_put(&c->w->staff, conn);
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

/* @returns 1 with c->s filled, 0 without a valid session, -1 when the
 * database cannot say. */
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
        web_sha256_hex(id, c->s.id_hash);
        if (web_scache_get(c->w->scache, wc->session_cache_ms, &c->s)) {
                c->has_session = 1;
                return 1;
        }
        if ((conn = web_pool_get(&c->w->staff, err, sizeof(err))) == NULL) {
                km_log_warn("session: %s", err);
                return -1;
        }
        if (web_pg_prepared(conn, "web_session",
                       "SELECT s.login, u.role, coalesce(u.org_id, ''), "
                       "s.csrf, s.last_seen_at < now() - interval '30 "
                       "seconds', coalesce(o.name, ''), extract(epoch FROM "
                       "s.expires_at)::bigint FROM web_sessions s "
                       "JOIN web_users u ON u.login = s.login LEFT JOIN "
                       "organisations o ON o.id = u.org_id WHERE s.id_hash = "
                       "$1 AND s.expires_at > now() AND NOT u.disabled",
                       1, p, &res, err, sizeof(err))) {
                km_log_warn("session: %s", err);
                r = -1;
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
                snprintf(max, sizeof(max), "%lld", (long long)wc->session_max_s);
                snprintf(idle, sizeof(idle), "%lld",
                         (long long)wc->session_idle_s);
                if (km_pg_exec(conn,
                               "UPDATE web_sessions SET last_seen_at = now(), "
                               "expires_at = least(created_at + $2::int * "
                               "interval '1 second', now() + $3::int * "
                               "interval '1 second') WHERE id_hash = $1 AND "
                               "expires_at > now()",
                               3, p, NULL, err, sizeof(err)))
                        km_log_warn("session: %s", err);
        }
cleanup:
        PQclear(res);
        web_pool_put(&c->w->staff, conn);
        return r;
}

/* The POST's form token against the session's. */
int web_csrf_ok(struct web_ctx *c)
{
        char *tok = web_form_get(c->body, "csrf");
        int ok = c->has_session && tok && web_ct_equal(tok, c->s.csrf);

        free(tok);
        return ok;
}

/* Forget expired sessions and old failure counts (main loop, each minute). */
void web_sessions_gc(struct web *w)
{
        char err[256], lock[24];
        const char *p[1] = {lock};
        PGconn *conn = web_pool_get(&w->staff, err, sizeof(err));

        if (conn == NULL)
                return;
        snprintf(lock, sizeof(lock), "%lld",
                 (long long)(w->wc->login_window_s > w->wc->login_lock_s
                                 ? w->wc->login_window_s
                                 : w->wc->login_lock_s));
        if (km_pg_exec(conn, "DELETE FROM web_sessions WHERE expires_at < now()",
                       0, NULL, NULL, err, sizeof(err)) ||
            km_pg_exec(conn,
                       "DELETE FROM web_login_failures WHERE first_at < now() "
                       "- $1::int * interval '1 second' AND (locked_until IS "
                       "NULL OR locked_until < now())",
                       1, p, NULL, err, sizeof(err)))
                km_log_warn("cleanup: %s", err);
        web_pool_put(&w->staff, conn);
}
