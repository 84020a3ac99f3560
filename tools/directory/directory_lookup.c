/*
 * directory_lookup.c - `lookup ADDRESS...`: match each address to a
 * building exactly as the router does (km_dir_match), print the building
 * and its organisations; `stats`: counts and the directory version.
 */
#include <stdio.h>
#include <stdlib.h>

#include "directory.h"
#include "km_dir.h"
#include "km_pg.h"

int directory_lookup(const struct km_conf *conf, int nargs, char **args,
                     char *err, size_t errlen)
{
        struct km_dir *dir = NULL;
        PGconn *conn;
        int r, unknown = 0;

        conn = km_pg_connect(conf->pg_conninfo, "komek-directory",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        r = km_dir_load(conn, &dir, err, errlen);
        PQfinish(conn);
        if (r)
                return r;
        for (int i = 0; i < nargs; i++) {
                const struct km_dir_building *b = km_dir_building(dir, args[i]);

                if (b == NULL)
                        b = km_dir_match(dir, NULL, NULL, NULL, args[i]);
                if (b == NULL) {
                        printf("%s\t-\n", args[i]);
                        unknown++;
                        continue;
                }
                printf("%s\t%s\t%s\t%s, %s\tksk=%s\tlift=%s\n", args[i], b->id,
                       b->district, b->street, b->house,
                       b->ksk_id ? b->ksk_id : "-",
                       b->lift_id ? b->lift_id : "-");
        }
        km_dir_destroy(dir);
        return unknown ? KM_EINPUT : 0;
}

int directory_stats(const struct km_conf *conf, char *err, size_t errlen)
{
        PGconn *conn;
        PGresult *res = NULL;
        int r;

        conn = km_pg_connect(conf->pg_conninfo, "komek-directory",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL)
                return KM_EFATAL;
        r = km_pg_exec(conn,
                       "SELECT 'organisations:' || kind, count(*)::text FROM "
                       "organisations GROUP BY kind UNION ALL SELECT "
                       "'buildings', count(*)::text FROM buildings UNION ALL "
                       "SELECT 'version', version || ' (' || "
                       "coalesce(summary, '') || ')' FROM directory_version "
                       "ORDER BY 1",
                       0, NULL, &res, err, errlen);
        if (r == 0)
                for (int i = 0; i < PQntuples(res); i++)
                        printf("%s\t%s\n", PQgetvalue(res, i, 0),
                               PQgetvalue(res, i, 1));
        PQclear(res);
        PQfinish(conn);
        return r;
}
