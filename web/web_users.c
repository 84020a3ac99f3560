/*
 * web_users.c - `komek-web users`: the logins of organisation staff and
 * analysts.
 *   komek-web users add LOGIN --org ksk-0042 [--password-stdin]
 *   komek-web users add LOGIN --analyst [--password-stdin]
 *   komek-web users list
 *   komek-web users disable LOGIN | enable LOGIN
 *   komek-web users passwd LOGIN [--password-stdin]
 *   komek-web users unlock LOGIN
 * Without --password-stdin a random password (20 characters) is made and
 * printed once on stdout as "LOGIN PASSWORD"; with it, the first line of
 * standard input is the password (never a command-line argument: others
 * could read it in the process list).  disable and passwd end the login's
 * sessions; enable, passwd and unlock clear its failed sign-ins (the lock
 * of the login from every address and the delays of each of its
 * addresses, deploy/sql/095_web_throttle.sql).
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "km_pg.h"
#include "km_util.h"
#include "web.h"

static int web_users_login_ok(const char *s)
{
        size_t n = strlen(s);

        if (n < 2 || n > WEB_LOGIN_MAX)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') ||
                      (i > 0 && strchr("._-", s[i]))))
                        return 0;
        return 1;
}

static int web_users_password(const struct web_conf *wc, char *pw, size_t len,
                              int *generated, char *err, size_t errlen)
{
        static const char abc[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRS"
                                  "TUVWXYZ23456789";
        size_t n = 0;

        *generated = !wc->password_stdin;
        if (wc->password_stdin) {
                if (fgets(pw, (int)len, stdin) == NULL)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "--password-stdin: no line on "
                                          "standard input");
                pw[strcspn(pw, "\r\n")] = '\0';
                return 0;
        }
        while (n < 20 && n + 1 < len) {
                unsigned char r;

                if (RAND_bytes(&r, 1) != 1)
                        return km_err_set(err, errlen, KM_EFATAL,
                                          "OpenSSL: no random bytes");
                if (r < 256 - 256 % (sizeof(abc) - 1)) /* no modulo bias */
                        pw[n++] = abc[r % (sizeof(abc) - 1)];
        }
        pw[n] = '\0';
        return 0;
}

static int web_users_list(PGconn *conn, char *err, size_t errlen)
{
        PGresult *res = NULL;
        int r = km_pg_exec(
                conn,
                "SELECT u.login, u.role, coalesce(u.org_id, '-'), CASE WHEN "
                "u.disabled THEN 'disabled' ELSE 'active' END, "
                "to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), "
                "coalesce(to_char(u.last_login_at AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD HH24:MI'), '-'), (SELECT count(*) FROM web_sessions "
                "s WHERE s.login = u.login AND s.expires_at > now()) FROM "
                "web_users u ORDER BY u.role DESC, u.org_id, u.login",
                0, NULL, &res, err, errlen);

        if (r)
                return r;
        printf("%-24s %-8s %-16s %-9s %-16s %-16s %s\n", "login", "role",
               "organisation", "state", "created (UTC)", "last sign-in",
               "sessions");
        for (int i = 0; i < PQntuples(res); i++)
                printf("%-24s %-8s %-16s %-9s %-16s %-16s %s\n",
                       PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
                       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                       PQgetvalue(res, i, 4), PQgetvalue(res, i, 5),
                       PQgetvalue(res, i, 6));
        PQclear(res);
        return 0;
}

static int web_users_set(PGconn *conn, const struct web_conf *wc,
                         const char *cmd, const char *login, char *err,
                         size_t errlen)
{
        char pw[WEB_PASSWORD_MAX + 2] = "", hash[256];
        const char *p[3] = {login, NULL, NULL};
        PGresult *res = NULL;
        int r, generated = 0, n;

        if (!strcmp(cmd, "add") || !strcmp(cmd, "passwd")) {
                if ((r = web_users_password(wc, pw, sizeof(pw), &generated, err,
                                            errlen)) ||
                    (r = web_password_hash(pw, wc->pbkdf2_iterations, hash,
                                           sizeof(hash), err, errlen))) {
                        OPENSSL_cleanse(pw, sizeof(pw));
                        return r;
                }
                p[1] = hash;
        }
        if (!strcmp(cmd, "add")) {
                if (!wc->analyst && wc->org) {
                        const char *q[1] = {wc->org};

                        r = km_pg_exec(conn,
                                       "SELECT 1 FROM organisations WHERE id "
                                       "= $1",
                                       1, q, &res, err, errlen);
                        n = r ? 0 : PQntuples(res);
                        PQclear(res);
                        res = NULL;
                        if (r == 0 && n == 0)
                                r = km_err_set(err, errlen, KM_EINPUT,
                                               "no organisation %s in the "
                                               "directory",
                                               wc->org);
                        if (r)
                                goto done;
                }
                p[2] = wc->analyst ? NULL : wc->org;
                r = km_pg_exec(conn,
                               "INSERT INTO web_users (login, role, org_id, "
                               "password) VALUES ($1, CASE WHEN $3::text IS "
                               "NULL THEN 'analyst' ELSE 'staff' END, $3, $2) "
                               "ON CONFLICT (login) DO NOTHING RETURNING 1",
                               3, p, &res, err, errlen);
                if (r == 0 && PQntuples(res) == 0)
                        r = km_err_set(err, errlen, KM_EINPUT,
                                       "login %s exists (passwd changes its "
                                       "password)",
                                       login);
                goto done;
        }
        if (!strcmp(cmd, "passwd"))
                r = km_pg_exec(conn,
                               "WITH u AS (UPDATE web_users SET password = $2, "
                               "disabled = disabled, updated_at = now() WHERE "
                               "login = $1 RETURNING login), s AS (DELETE FROM "
                               "web_sessions WHERE login = $1), f AS (DELETE "
                               "FROM web_login_throttle WHERE login = $1) "
                               "SELECT login FROM u",
                               2, (const char *[]){login, hash}, &res, err,
                               errlen);
        else if (!strcmp(cmd, "disable"))
                r = km_pg_exec(conn,
                               "WITH u AS (UPDATE web_users SET disabled = "
                               "true, updated_at = now() WHERE login = $1 "
                               "RETURNING login), s AS (DELETE FROM "
                               "web_sessions WHERE login = $1) SELECT login "
                               "FROM u",
                               1, p, &res, err, errlen);
        else if (!strcmp(cmd, "unlock"))
                r = km_pg_exec(conn,
                               "WITH f AS (DELETE FROM web_login_throttle "
                               "WHERE login = $1 AND EXISTS (SELECT 1 FROM "
                               "web_users WHERE login = $1)) SELECT login "
                               "FROM web_users WHERE login = $1",
                               1, p, &res, err, errlen);
        else
                r = km_pg_exec(conn,
                               "WITH u AS (UPDATE web_users SET disabled = "
                               "false, updated_at = now() WHERE login = $1 "
                               "RETURNING login), f AS (DELETE FROM "
                               "web_login_throttle WHERE login = $1) SELECT "
                               "login FROM u",
                               1, p, &res, err, errlen);
        if (r == 0 && PQntuples(res) == 0)
                r = km_err_set(err, errlen, KM_EINPUT, "no login %s", login);
done:
        PQclear(res);
        if (r == 0 && generated)
                printf("%s %s\n", login, pw);
        else if (r == 0)
                printf("%s %s\n", login,
                       !strcmp(cmd, "add")       ? "added"
                       : !strcmp(cmd, "passwd")  ? "password changed"
                       : !strcmp(cmd, "disable") ? "disabled"
                       : !strcmp(cmd, "unlock")  ? "unlocked"
                                                 : "enabled");
        OPENSSL_cleanse(pw, sizeof(pw));
        return r;
}

/* conf->args: "users", command, [login].  @returns 0 or KM_E*. */
int web_users_main(const struct km_conf *conf, const struct web_conf *wc,
                   char *err, size_t errlen)
{
        const char *cmd = conf->nargs > 1 ? conf->args[1] : "";
        const char *login = conf->nargs > 2 ? conf->args[2] : NULL;
        PGconn *conn;
        int r;

        if (!strcmp(cmd, "list") ? conf->nargs != 2
            : (!strcmp(cmd, "add") || !strcmp(cmd, "passwd") ||
               !strcmp(cmd, "disable") || !strcmp(cmd, "enable") ||
               !strcmp(cmd, "unlock"))
                    ? conf->nargs != 3
                    : 1)
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "expected users add|list|disable|enable|"
                                  "passwd|unlock; see --help");
        if (login && !web_users_login_ok(login))
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "a login is 2-64 of a-z 0-9 . _ - "
                                  "(lower case, not starting with . _ -)");
        if (!strcmp(cmd, "add") &&
            (wc->analyst == (wc->org != NULL && *wc->org)))
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "users add needs --org ORG (staff) or "
                                  "--analyst");
        conn = km_pg_connect(conf->pg_conninfo, "komek-web-users",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        if (!strcmp(cmd, "list"))
                r = web_users_list(conn, err, errlen);
        else
                r = web_users_set(conn, wc, cmd, login, err, errlen);
        PQfinish(conn);
        return r;
}
