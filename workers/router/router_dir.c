/*
 * router_dir.c - the directory in memory: loaded at start (a failure is
 * fatal there), reloaded on SIGHUP and whenever directory_version changed
 * (checked every router.reload_ms).  A failed reload keeps the old
 * directory and warns; a lost connection is reset on the next check.
 */
#include "km_log.h"
#include "km_pg.h"
#include "km_util.h"
#include "router.h"

int router_dir_reload(struct router *r, int force)
{
        struct km_dir *dir = NULL;
        struct km_dir_hist *hist = NULL;
        char err[512];
        int64_t version = 0;
        int rc;

        if (PQstatus(r->conn) != CONNECTION_OK)
                PQreset(r->conn);
        if (!force && r->dir) {
                rc = km_dir_version_get(r->conn, &version, err, sizeof(err));
                if (rc) {
                        km_obs_pg_error(r->m.reg, rc);
                        km_log_warn("directory version check: %s", err);
                        return rc;
                }
                if (version == km_dir_version(r->dir))
                        return 0;
        }
        rc = km_dir_load(r->conn, &dir, err, sizeof(err));
        /* XXX a second snapshot: an import between the two loads is
         * caught by the next version check */
        if (rc == 0 &&
            (rc = km_dir_hist_load(r->conn, &hist, err, sizeof(err))))
                km_dir_destroy(dir);
        if (rc) {
                km_obs_pg_error(r->m.reg, rc);
                km_log_warn("directory reload failed, keeping version %lld: %s",
                            r->dir ? (long long)km_dir_version(r->dir) : -1LL,
                            err);
                return rc;
        }
        km_log_info("directory version %lld: %zu organisations, %zu "
                    "buildings, %zu responsibility periods",
                    (long long)km_dir_version(dir), km_dir_norgs(dir),
                    km_dir_nbuildings(dir), km_dir_hist_nperiods(hist));
        if (r->dir)
                r->st.reloads++;
        km_dir_destroy(r->dir);
        km_dir_hist_destroy(r->hist);
        r->dir = dir;
        r->hist = hist;
        return 0;
}
