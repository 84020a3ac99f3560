/*
 * km_conf_pg.c - <prog>.pg_user: the program's PostgreSQL role put into
 * pg.conninfo and pg.read_conninfo (libpq's conninfo quoting).  See
 * km_conf.h.
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "km_conf.h"
#include "km_conf_int.h"
#include "km_err.h"
#include "km_util.h"

/* Append key='value' to the conninfo *out (libpq's quoting). */
static void km_conf_ci_add(char **out, const char *key, const char *val)
{
        size_t n = *out ? strlen(*out) : 0;
        char *p;

        *out = km_xrealloc(*out, n + strlen(key) + 2 * strlen(val) + 5);
        p = *out + n;
        if (n)
                *p++ = ' ';
        p += sprintf(p, "%s='", key);
        for (const char *v = val; *v; v++) {
                if (*v == '\'' || *v == '\\')
                        *p++ = '\\';
                *p++ = *v;
        }
        *p++ = '\'';
        *p = '\0';
}

/* Replace the user of the conninfo *ci (key=value or URI) by conf->pg_user.
 * A password in it belongs to its own user: refused for another one. */
static int km_conf_ci_user(const struct km_conf *conf, const char *key,
                           char **ci, char *err, size_t errlen)
{
        const char *where = conf->path ? conf->path : "flags";
        char *perr = NULL, *out = NULL;
        PQconninfoOption *opts = PQconninfoParse(*ci, &perr);
        int r = 0, pw = 0, same = 0;

        if (opts == NULL) {
                if (perr)
                        perr[strcspn(perr, "\n")] = '\0';
                r = km_err_set(err, errlen, KM_ECONFIG, "%s: %s: %s", where,
                               key, perr ? perr : "out of memory");
                PQfreemem(perr);
                return r;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (o->val == NULL)
                        continue;
                if (strcmp(o->keyword, "user") == 0)
                        same = strcmp(o->val, conf->pg_user) == 0;
                else if (strcmp(o->keyword, "password") == 0 && *o->val)
                        pw = 1;
                if (strcmp(o->keyword, "user") != 0)
                        km_conf_ci_add(&out, o->keyword, o->val);
        }
        PQconninfoFree(opts);
        if (pw && !same) {
                free(out);
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "%s: %s holds a password, but %s.pg_user "
                                  "logs in as %s: give each role's password "
                                  "in a passfile (docs/operations.md)",
                                  where, key, conf->prog, conf->pg_user);
        }
        km_conf_ci_add(&out, "user", conf->pg_user);
        free(*ci);
        *ci = out;
        return 0;
}

/* <prog>.pg_user: a role name, put into pg.conninfo and pg.read_conninfo. */
int km_conf_pg_user(struct km_conf *conf, char *err, size_t errlen)
{
        const char *u = conf->pg_user;
        int r;

        if (u == NULL || *u == '\0')
                return 0;
        for (const char *p = u; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || *p == '_' ||
                      (p > u && *p >= '0' && *p <= '9')))
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s.pg_user: \"%s\" is not a "
                                          "role name (a-z, 0-9, _)",
                                          conf->path ? conf->path : "flags",
                                          conf->prog, u);
        if ((r = km_conf_ci_user(conf, "pg.conninfo", &conf->pg_conninfo, err,
                                 errlen)))
                return r;
        if (conf->pg_read_conninfo && *conf->pg_read_conninfo)
                return km_conf_ci_user(conf, "pg.read_conninfo",
                                       &conf->pg_read_conninfo, err, errlen);
        return 0;
}
