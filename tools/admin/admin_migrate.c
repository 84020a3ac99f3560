/*
 * admin_migrate.c - apply deploy/sql/NNN_name.sql in version order, each in
 * its own transaction together with its row in schema_migrations, under an
 * advisory lock so two migrators never race.  A file whose checksum
 * changed after it was applied is an error: migrations are append-only.
 *
 * Migration files are the repository's own static DDL and go through
 * PQexec (the simple protocol is the only one that runs several
 * statements); everything built from values uses parameters.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "km_hash.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"

#define ADMIN_LOCK_KEY "7305310001" /* pg_advisory_lock key of komek */

static int admin_is_migration(const char *name)
{
        size_t n = strlen(name);

        return n > 8 && name[0] >= '0' && name[0] <= '9' && name[1] >= '0' &&
               name[1] <= '9' && name[2] >= '0' && name[2] <= '9' &&
               name[3] == '_' && strcmp(name + n - 4, ".sql") == 0;
}

static int admin_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *admin_read(const char *path, size_t *len)
{
        FILE *fp = fopen(path, "rb");
        char *buf = NULL;
        long n;

        if (fp == NULL)
                return NULL;
        if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 &&
            fseek(fp, 0, SEEK_SET) == 0) {
                buf = km_xmalloc((size_t)n + 1);
                if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                        free(buf);
                        buf = NULL;
                } else {
                        buf[n] = '\0';
                        *len = (size_t)n;
                }
        }
        fclose(fp);
        return buf;
}

/* Apply one file unless applied.  *applied counts what was done. */
static int admin_apply(PGconn *conn, const char *dir, const char *name,
                       int *applied, char *err, size_t errlen)
{
        char version[4] = {name[0], name[1], name[2], '\0'};
        char *path = km_xasprintf("%s/%s", dir, name), *sql = NULL;
        char hex[KM_SHA256_HEX];
        const char *params[3] = {version, name, hex};
        PGresult *res = NULL, *xr = NULL;
        size_t len = 0;
        int r = 0;

        sql = admin_read(path, &len);
        if (sql == NULL) {
                r = km_err_set(err, errlen, KM_EFATAL, "%s: cannot read", path);
                goto cleanup;
        }
        km_hash_sha256_hex(sql, len, hex);
        r = km_pg_exec(
                conn, "SELECT sha256 FROM schema_migrations WHERE version = $1",
                1, params, &res, err, errlen);
        if (r)
                goto cleanup;
        if (PQntuples(res) == 1) {
                if (strcmp(PQgetvalue(res, 0, 0), hex) != 0)
                        r = km_err_set(err, errlen, KM_EFATAL,
                                       "%s changed after it was applied "
                                       "(migrations are append-only)",
                                       path);
                goto cleanup;
        }
        if ((r = km_pg_begin(conn, err, errlen)))
                goto cleanup;
        xr = PQexec(conn, sql);
        if (PQresultStatus(xr) != PGRES_COMMAND_OK &&
            PQresultStatus(xr) != PGRES_TUPLES_OK) {
                r = km_err_set(err, errlen, KM_EFATAL, "%s: %s", path,
                               PQresultErrorMessage(xr));
                km_pg_rollback(conn);
                goto cleanup;
        }
        r = km_pg_exec(conn,
                       "INSERT INTO schema_migrations (version, name, sha256) "
                       "VALUES ($1, $2, $3)",
                       3, params, NULL, err, errlen);
        if (r == 0)
                r = km_pg_commit(conn, err, errlen);
        if (r) {
                km_pg_rollback(conn);
                goto cleanup;
        }
        km_log_info("migrate: applied %s", name);
        (*applied)++;
cleanup:
        PQclear(xr);
        PQclear(res);
        free(sql);
        free(path);
        return r;
}

static int admin_categories(PGconn *conn, const struct km_conf *conf, char *err,
                            size_t errlen)
{
        for (size_t i = 0; i < conf->ncategories; i++) {
                const struct km_category *c = &conf->categories[i];
                char sla[24];
                const char *params[5] = {c->code, c->kind, c->ru, c->en, sla};
                int r;

                snprintf(sla, sizeof(sla), "%lld", (long long)c->sla_hours);
                r = km_pg_exec(conn,
                               "INSERT INTO categories (code, kind, name_ru, "
                               "name_en, sla_hours) VALUES ($1, $2, $3, $4, "
                               "$5) ON CONFLICT (code) DO UPDATE SET kind = "
                               "EXCLUDED.kind, name_ru = EXCLUDED.name_ru, "
                               "name_en = EXCLUDED.name_en, sla_hours = "
                               "EXCLUDED.sla_hours",
                               5, params, NULL, err, errlen);
                if (r)
                        return r;
        }
        return 0;
}

int admin_migrate(const struct km_conf *conf, const struct admin_conf *ac,
                  char *err, size_t errlen)
{
        PGconn *conn = NULL;
        DIR *d = NULL;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int applied = 0, r = 0, locked = 0;
        const char *lock[1] = {ADMIN_LOCK_KEY};

        conn = km_pg_connect(conf->pg_conninfo, "komek-admin",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        d = opendir(ac->sql_dir);
        if (d == NULL) {
                r = km_err_set(err, errlen, KM_ECONFIG, "%s: cannot open",
                               ac->sql_dir);
                goto cleanup;
        }
        while ((de = readdir(d)) != NULL) {
                if (!admin_is_migration(de->d_name))
                        continue;
                names = km_xrealloc(names, (n + 1) * sizeof(char *));
                names[n++] = km_xstrdup(de->d_name);
        }
        qsort(names, n, sizeof(char *), admin_cmp);
        for (size_t i = 1; i < n; i++)
                if (strncmp(names[i - 1], names[i], 3) == 0) {
                        r = km_err_set(err, errlen, KM_EFATAL,
                                       "two migrations share version %.3s: "
                                       "%s, %s",
                                       names[i], names[i - 1], names[i]);
                        goto cleanup;
                }
        if ((r = km_pg_exec(conn, "SET client_min_messages = warning", 0, NULL,
                            NULL, err, errlen)))
                goto cleanup;
        if ((r = km_pg_exec(conn, "SELECT pg_advisory_lock($1)", 1, lock, NULL,
                            err, errlen)))
                goto cleanup;
        locked = 1;
        r = km_pg_exec(conn,
                       "CREATE TABLE IF NOT EXISTS schema_migrations ("
                       "version text PRIMARY KEY, name text NOT NULL, "
                       "sha256 text NOT NULL, applied_at timestamptz NOT NULL "
                       "DEFAULT now())",
                       0, NULL, NULL, err, errlen);
        for (size_t i = 0; r == 0 && i < n; i++)
                r = admin_apply(conn, ac->sql_dir, names[i], &applied, err,
                                errlen);
        if (r == 0)
                r = admin_categories(conn, conf, err, errlen);
        if (r == 0)
                km_log_info("migrate: %d applied, %zu up to date", applied,
                            n - (size_t)applied);
cleanup:
        if (locked) {
                PGresult *u =
                        PQexecParams(conn, "SELECT pg_advisory_unlock($1)", 1,
                                     NULL, lock, NULL, NULL, 0);

                PQclear(u);
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (d)
                closedir(d);
        PQfinish(conn);
        return r;
}
