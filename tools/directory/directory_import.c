/*
 * directory_import.c - validate organisations.csv and buildings.csv, diff
 * them against the tables and apply the difference in one transaction
 * (under a table lock, so two imports never interleave), bumping
 * directory_version when anything changed.  Nothing is written when any
 * row is invalid: the errors are listed by file and line.
 *
 * References: a building's ksk_id must name an organisation of kind ksk,
 * its lift_operator_id one of kind lift_operator (in the file, or already
 * in the table when not pruning).  The triage organisation always stays.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "directory.h"
#include "km_addr.h"
#include "km_dir.h"
#include "km_log.h"
#include "km_pg.h"
#include "km_task.h"
#include "km_utf8.h"
#include "km_util.h"

struct dir_org {
        const char *id, *kind, *name, *district, *phone;
        size_t line;
};

struct dir_bld {
        const char *id, *district, *street, *house, *ksk, *lift, *lat, *lon;
        char apartments[16];
        char sk[KM_ADDR_KEY_LEN], hk[32];
        size_t line;
};

struct dir_counts {
        size_t in_file, added, changed, unchanged, removed, kept;
};

struct dir_state {
        const struct directory_conf *dc;
        size_t norgs, nblds, nerr;
        struct dir_org *orgs;
        struct dir_bld *blds;
        PGresult *db_orgs, *db_blds; /* sorted by id COLLATE "C" */
        struct dir_counts oc, bc;
        char eff[32];               /* effective time, RFC 3339 */
        struct directory_hist hist; /* responsibility changes */
};

static int dir_err(struct dir_state *st, const char *file, size_t line,
                   const char *fmt, const char *what)
{
        if (st->nerr < (size_t)st->dc->max_errors)
                fprintf(stderr, "komek-directory: %s:%zu: %s%s\n", file, line,
                        fmt, what ? what : "");
        st->nerr++;
        return 0;
}

static const char *dir_opt(const char *s)
{
        return s && *s ? s : NULL;
}

static int dir_id_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 32)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                      s[i] == '-'))
                        return 0;
        return 1;
}

static int dir_org_cmp(const void *a, const void *b)
{
        return strcmp(((const struct dir_org *)a)->id,
                      ((const struct dir_org *)b)->id);
}

static int dir_bld_cmp(const void *a, const void *b)
{
        return strcmp(((const struct dir_bld *)a)->id,
                      ((const struct dir_bld *)b)->id);
}

/* Row index of id in a result sorted by its first column, or -1. */
static int dir_db_find(PGresult *res, const char *id)
{
        int lo = 0, hi = PQntuples(res) - 1;

        while (lo <= hi) {
                int mid = (lo + hi) / 2,
                    c = strcmp(PQgetvalue(res, mid, 0), id);

                if (c == 0)
                        return mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid - 1;
        }
        return -1;
}

static const struct dir_org *dir_file_org(const struct dir_state *st,
                                          const char *id)
{
        struct dir_org key = {.id = id};

        return bsearch(&key, st->orgs, st->norgs, sizeof(key), dir_org_cmp);
}

/* Kind of organisation id in the resulting directory, or NULL. */
static const char *dir_kind_of(const struct dir_state *st, const char *id)
{
        const struct dir_org *o = dir_file_org(st, id);
        int row;

        if (o)
                return o->kind;
        if (st->dc->prune && strcmp(id, KM_DIR_TRIAGE) != 0)
                return NULL;
        row = dir_db_find(st->db_orgs, id);
        return row >= 0 ? PQgetvalue(st->db_orgs, row, 1) : NULL;
}

static int dir_known(void *opaque, const char *id)
{
        return dir_kind_of(opaque, id) != NULL;
}

static int dir_read_orgs(struct dir_state *st, const struct directory_csv *csv)
{
        int c_id = directory_csv_col(csv, "id"),
            c_kind = directory_csv_col(csv, "kind"),
            c_name = directory_csv_col(csv, "name"),
            c_dist = directory_csv_col(csv, "district"),
            c_phone = directory_csv_col(csv, "phone");

        if (c_id < 0 || c_kind < 0 || c_name < 0) {
                dir_err(st, csv->path, 1, "header needs id, kind, name", NULL);
                return 0;
        }
        st->orgs = km_xcalloc(csv->nrows, sizeof(*st->orgs));
        for (size_t i = 1; i < csv->nrows; i++) {
                char **f = csv->rows[i];
                struct dir_org *o = &st->orgs[st->norgs++];

                o->id = f[c_id];
                o->kind = f[c_kind];
                o->name = f[c_name];
                o->district = c_dist >= 0 ? dir_opt(f[c_dist]) : NULL;
                o->phone = c_phone >= 0 ? dir_opt(f[c_phone]) : NULL;
                o->line = csv->lines[i];
                if (!dir_id_ok(o->id))
                        dir_err(st, csv->path, o->line,
                                "id must match [A-Za-z0-9_-]{1,32}: ", o->id);
                if (strcmp(o->kind, "ksk") &&
                    strcmp(o->kind, "lift_operator") &&
                    strcmp(o->kind, "utility") && strcmp(o->kind, "triage"))
                        dir_err(st, csv->path, o->line,
                                "kind must be ksk, lift_operator, utility or "
                                "triage: ",
                                o->kind);
                if (o->name[0] == '\0' || km_utf8_chars(o->name) > 256)
                        dir_err(st, csv->path, o->line,
                                "name empty or longer than 256 characters",
                                NULL);
        }
        qsort(st->orgs, st->norgs, sizeof(*st->orgs), dir_org_cmp);
        for (size_t i = 1; i < st->norgs; i++)
                if (strcmp(st->orgs[i].id, st->orgs[i - 1].id) == 0)
                        dir_err(st, csv->path, st->orgs[i].line,
                                "duplicate id ", st->orgs[i].id);
        return 0;
}

static int dir_coord_ok(const char *s, double lim)
{
        char *end;
        double v = strtod(s, &end);

        return end != s && *end == '\0' && isfinite(v) && v >= -lim && v <= lim;
}

static void dir_check_ref(struct dir_state *st, const char *file, size_t line,
                          const char *id, const char *kind)
{
        const char *k;

        if (id == NULL)
                return;
        k = dir_kind_of(st, id);
        if (k == NULL)
                dir_err(st, file, line, "unknown organisation ", id);
        else if (strcmp(k, kind) != 0)
                dir_err(st, file, line, "organisation of the wrong kind: ", id);
}

static int dir_read_blds(struct dir_state *st, const struct directory_csv *csv)
{
        static const char *const need[] = {
                "id",     "district",         "street", "house", "apartments",
                "ksk_id", "lift_operator_id", "lat",    "long"};
        int col[9];

        for (int j = 0; j < 9; j++) {
                col[j] = directory_csv_col(csv, need[j]);
                if (col[j] < 0 && j < 5) {
                        dir_err(st, csv->path, 1,
                                "header lacks a column: ", need[j]);
                        return 0;
                }
        }
        st->blds = km_xcalloc(csv->nrows, sizeof(*st->blds));
        for (size_t i = 1; i < csv->nrows; i++) {
                char **f = csv->rows[i], *end;
                struct dir_bld *b = &st->blds[st->nblds++];
                long apts;

#define DIR_F(j) (col[j] >= 0 ? dir_opt(f[col[j]]) : NULL)
                b->id = f[col[0]];
                b->district = f[col[1]];
                b->street = f[col[2]];
                b->house = f[col[3]];
                b->ksk = DIR_F(5);
                b->lift = DIR_F(6);
                b->lat = DIR_F(7);
                b->lon = DIR_F(8);
#undef DIR_F
                b->line = csv->lines[i];
                if (!dir_id_ok(b->id))
                        dir_err(st, csv->path, b->line,
                                "id must match [A-Za-z0-9_-]{1,32}: ", b->id);
                if (b->district[0] == '\0')
                        dir_err(st, csv->path, b->line, "district is empty",
                                NULL);
                if (km_addr_street_key(b->street, b->sk, sizeof(b->sk)) == 0)
                        dir_err(st, csv->path, b->line,
                                "street has no name: ", b->street);
                if (km_addr_house_key(b->house, b->hk, sizeof(b->hk)) == 0)
                        dir_err(st, csv->path, b->line,
                                "house has no number: ", b->house);
                apts = strtol(f[col[4]], &end, 10);
                if (end == f[col[4]] || *end || apts < 1 || apts > 100000)
                        dir_err(st, csv->path, b->line,
                                "apartments must be 1..100000: ", f[col[4]]);
                snprintf(b->apartments, sizeof(b->apartments), "%ld", apts);
                if ((b->lat == NULL) != (b->lon == NULL) ||
                    (b->lat && !dir_coord_ok(b->lat, 90)) ||
                    (b->lon && !dir_coord_ok(b->lon, 180)))
                        dir_err(st, csv->path, b->line,
                                "lat/long must both be empty or in range",
                                NULL);
                dir_check_ref(st, csv->path, b->line, b->ksk, "ksk");
                dir_check_ref(st, csv->path, b->line, b->lift, "lift_operator");
        }
        qsort(st->blds, st->nblds, sizeof(*st->blds), dir_bld_cmp);
        for (size_t i = 1; i < st->nblds; i++)
                if (strcmp(st->blds[i].id, st->blds[i - 1].id) == 0)
                        dir_err(st, csv->path, st->blds[i].line,
                                "duplicate id ", st->blds[i].id);
        return 0;
}

static int dir_same(PGresult *res, int row, int col, const char *v)
{
        if (PQgetisnull(res, row, col))
                return v == NULL;
        return v && strcmp(PQgetvalue(res, row, col), v) == 0;
}

static int dir_same_num(PGresult *res, int row, int col, const char *v)
{
        if (PQgetisnull(res, row, col) || v == NULL)
                return PQgetisnull(res, row, col) && v == NULL;
        return fabs(strtod(PQgetvalue(res, row, col), NULL) - strtod(v, NULL)) <
               1e-9;
}

static int dir_write_orgs(PGconn *conn, struct dir_state *st, char *err,
                          size_t errlen)
{
        for (size_t i = 0; i < st->norgs; i++) {
                const struct dir_org *o = &st->orgs[i];
                const char *p[5] = {o->id, o->kind, o->name, o->district,
                                    o->phone};
                int row = dir_db_find(st->db_orgs, o->id), r;

                st->oc.in_file++;
                if (row >= 0 && dir_same(st->db_orgs, row, 1, o->kind) &&
                    dir_same(st->db_orgs, row, 2, o->name) &&
                    dir_same(st->db_orgs, row, 3, o->district) &&
                    dir_same(st->db_orgs, row, 4, o->phone) &&
                    dir_same(st->db_orgs, row, 5, "f")) {
                        st->oc.unchanged++;
                        continue;
                }
                if (row >= 0)
                        st->oc.changed++;
                else
                        st->oc.added++;
                if (st->dc->dry_run)
                        continue;
                r = km_pg_exec(
                        conn,
                        "INSERT INTO organisations (id, kind, name, "
                        "district, phone, updated_at) VALUES ($1, $2, "
                        "$3, $4, $5, now()) ON CONFLICT (id) DO UPDATE "
                        "SET kind = EXCLUDED.kind, name = EXCLUDED.name, "
                        "district = EXCLUDED.district, phone = "
                        "EXCLUDED.phone, retired_at = NULL, "
                        "updated_at = now()",
                        5, p, NULL, err, errlen);
                if (r)
                        return r;
        }
        return 0;
}

static int dir_write_blds(PGconn *conn, struct dir_state *st, char *err,
                          size_t errlen)
{
        for (size_t i = 0; i < st->nblds; i++) {
                const struct dir_bld *b = &st->blds[i];
                const char *p[11] = {b->id,    b->district,   b->street,
                                     b->house, b->apartments, b->ksk,
                                     b->lift,  b->lat,        b->lon,
                                     b->sk,    b->hk};
                int row = dir_db_find(st->db_blds, b->id), r;
                PGresult *res = st->db_blds;

                st->bc.in_file++;
                if (row >= 0 && dir_same(res, row, 1, b->district) &&
                    dir_same(res, row, 2, b->street) &&
                    dir_same(res, row, 3, b->house) &&
                    dir_same(res, row, 4, b->apartments) &&
                    dir_same(res, row, 5, b->ksk) &&
                    dir_same(res, row, 6, b->lift) &&
                    dir_same_num(res, row, 7, b->lat) &&
                    dir_same_num(res, row, 8, b->lon) &&
                    dir_same(res, row, 9, b->sk) &&
                    dir_same(res, row, 10, b->hk)) {
                        st->bc.unchanged++;
                        continue;
                }
                if (row >= 0)
                        st->bc.changed++;
                else
                        st->bc.added++;
                if (st->dc->dry_run)
                        continue;
                r = km_pg_exec(
                        conn,
                        "INSERT INTO buildings (id, district, street, house, "
                        "apartments, ksk_id, lift_operator_id, lat, long, "
                        "street_key, house_key, updated_at) VALUES ($1, $2, $3, "
                        "$4, $5, $6, $7, $8, $9, $10, $11, now()) ON CONFLICT (id) "
                        "DO UPDATE SET district = EXCLUDED.district, street = "
                        "EXCLUDED.street, house = EXCLUDED.house, apartments = "
                        "EXCLUDED.apartments, ksk_id = EXCLUDED.ksk_id, "
                        "lift_operator_id = EXCLUDED.lift_operator_id, lat = "
                        "EXCLUDED.lat, long = EXCLUDED.long, street_key = "
                        "EXCLUDED.street_key, house_key = EXCLUDED.house_key, "
                        "updated_at = now()",
                        11, p, NULL, err, errlen);
                if (r)
                        return r;
        }
        return 0;
}

/* With --prune: buildings, then organisations no longer in the files are
 * retired at the effective date (never deleted: old complaints and
 * responsibility periods name them); one still referenced, or triage, is
 * kept. */
static int dir_prune(PGconn *conn, struct dir_state *st, char *err,
                     size_t errlen)
{
        for (int i = 0; i < PQntuples(st->db_blds); i++) {
                const char *id = PQgetvalue(st->db_blds, i, 0);
                struct dir_bld key = {.id = id};
                const char *p[1] = {id};
                int r;

                if (bsearch(&key, st->blds, st->nblds, sizeof(key),
                            dir_bld_cmp))
                        continue;
                st->bc.removed++;
                if (!st->dc->dry_run &&
                    (r = km_pg_exec(conn, "DELETE FROM buildings WHERE id = $1",
                                    1, p, NULL, err, errlen)))
                        return r;
        }
        for (int i = 0; i < PQntuples(st->db_orgs); i++) {
                const char *id = PQgetvalue(st->db_orgs, i, 0);
                const char *p[2] = {id, st->eff};
                PGresult *res = NULL;
                int r;

                if (dir_file_org(st, id) || strcmp(id, KM_DIR_TRIAGE) == 0 ||
                    dir_same(st->db_orgs, i, 5, "t"))
                        continue;
                if (st->dc->dry_run) {
                        st->oc.removed++;
                        continue;
                }
                r = km_pg_exec(conn,
                               "UPDATE organisations SET retired_at = "
                               "$2::timestamptz, updated_at = now() WHERE id "
                               "= $1 AND retired_at IS NULL AND NOT EXISTS "
                               "(SELECT 1 FROM buildings WHERE ksk_id = $1 OR "
                               "lift_operator_id = $1)",
                               2, p, &res, err, errlen);
                if (r)
                        return r;
                if (atoi(PQcmdTuples(res)) > 0)
                        st->oc.removed++;
                else
                        st->oc.kept++;
                PQclear(res);
        }
        return 0;
}

static int dir_bump(PGconn *conn, struct dir_state *st, int64_t *version,
                    char *err, size_t errlen)
{
        char summary[256];
        const char *p[1] = {summary};
        PGresult *res = NULL;
        int r;

        snprintf(summary, sizeof(summary),
                 "organisations +%zu ~%zu -%zu, buildings +%zu ~%zu -%zu",
                 st->oc.added, st->oc.changed, st->oc.removed, st->bc.added,
                 st->bc.changed, st->bc.removed);
        r = km_pg_exec(conn,
                       "UPDATE directory_version SET version = version + 1, "
                       "updated_at = now(), summary = $1 RETURNING version",
                       1, p, &res, err, errlen);
        if (r)
                return r;
        *version =
                PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
        PQclear(res);
        return 0;
}

static int dir_apply(PGconn *conn, struct dir_state *st, char *err,
                     size_t errlen)
{
        int64_t version = 0;
        int r, changed;

        if ((r = dir_write_orgs(conn, st, err, errlen)) ||
            (r = dir_write_blds(conn, st, err, errlen)) ||
            (st->dc->prune && (r = dir_prune(conn, st, err, errlen))))
                return r;
        if (!st->dc->dry_run &&
            (r = directory_hist_apply(conn, st->hist.effective,
                                      (size_t)st->dc->max_errors, &st->hist,
                                      err, errlen)))
                return r;
        changed = st->oc.added + st->oc.changed + st->oc.removed +
                  st->bc.added + st->bc.changed + st->bc.removed + st->hist.n;
        if (changed && !st->dc->dry_run &&
            (r = dir_bump(conn, st, &version, err, errlen)))
                return r;
        if (!changed || st->dc->dry_run)
                r = km_dir_version_get(conn, &version, err, errlen);
        if (r)
                return r;
        printf("organisations: %zu in file, %zu added, %zu changed, %zu "
               "unchanged, %zu retired\n",
               st->oc.in_file, st->oc.added, st->oc.changed, st->oc.unchanged,
               st->oc.removed);
        if (st->oc.kept)
                printf("organisations: %zu not in the file kept (still "
                       "referenced)\n",
                       st->oc.kept);
        printf("buildings: %zu in file, %zu added, %zu changed, %zu "
               "unchanged, %zu removed\n",
               st->bc.in_file, st->bc.added, st->bc.changed, st->bc.unchanged,
               st->bc.removed);
        if (!st->dc->dry_run)
                directory_hist_report(&st->hist, stdout);
        printf("directory version %lld%s\n", (long long)version,
               st->dc->dry_run ? " (dry run: nothing written)"
               : changed       ? " (changed)"
                               : " (unchanged)");
        return 0;
}

/* Open tasks follow their building (directory_handover.c); not before
 * the effective date (XXX: then nothing moves, a later import does). */
static int dir_handover(PGconn *conn, const struct km_conf *conf,
                        struct dir_state *st, char *err, size_t errlen)
{
        int64_t now = km_wall_s();
        size_t moved = 0;
        int r;

        if (st->hist.handovers + st->hist.released == 0)
                return 0;
        if (st->hist.effective > now) {
                printf("tasks: none handed over (effective date in the "
                       "future)\n");
                return 0;
        }
        r = directory_handover_tasks(conn, conf, &st->hist, now, &moved, err,
                                     errlen);
        if (r == 0)
                printf("tasks: %zu open task(s) handed over\n", moved);
        return r;
}

int directory_import(const struct km_conf *conf,
                     const struct directory_conf *dc, const char *dir,
                     char *err, size_t errlen)
{
        struct directory_csv ocsv, bcsv;
        struct dir_state st;
        struct directory_chan_ctx cx;
        PGconn *conn = NULL;
        char *opath = NULL, *bpath = NULL, *cpath = NULL;
        int r;

        memset(&st, 0, sizeof(st));
        memset(&ocsv, 0, sizeof(ocsv));
        memset(&bcsv, 0, sizeof(bcsv));
        memset(&cx, 0, sizeof(cx));
        st.dc = dc;
        if ((r = directory_effective(dc->effective, dc->utc_offset_h,
                                     km_wall_s(), &st.hist.effective, err,
                                     errlen)))
                goto cleanup;
        km_fmt_rfc3339(st.hist.effective, st.eff, sizeof(st.eff));
        opath = dc->orgs_file ? km_xstrdup(dc->orgs_file)
                              : km_xasprintf("%s/organisations.csv", dir);
        bpath = dc->buildings_file ? km_xstrdup(dc->buildings_file)
                                   : km_xasprintf("%s/buildings.csv", dir);
        /* channels: optional unless named */
        cpath = dc->channels_file ? km_xstrdup(dc->channels_file)
                                  : km_xasprintf("%s/channels.csv", dir);
        if (dc->channels_file == NULL && access(cpath, F_OK) != 0) {
                free(cpath);
                cpath = NULL;
        }
        if ((r = directory_csv_read(opath, &ocsv, err, errlen)) ||
            (r = directory_csv_read(bpath, &bcsv, err, errlen)))
                goto cleanup;
        conn = km_pg_connect(conf->pg_conninfo, "komek-directory",
                             (int)conf->pg_connect_timeout_s, err, errlen);
        if (conn == NULL) {
                r = KM_EFATAL;
                goto cleanup;
        }
        if ((r = km_pg_begin(conn, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "LOCK TABLE organisations, buildings IN SHARE ROW "
                            "EXCLUSIVE MODE",
                            0, NULL, NULL, err, errlen)) ||
            /* no task sink batch halfway meanwhile (km_task.h) */
            (r = km_task_handover_lock(conn, 1, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "SELECT id, kind, name, district, phone, "
                            "retired_at IS NOT NULL FROM organisations "
                            "ORDER BY id COLLATE \"C\"",
                            0, NULL, &st.db_orgs, err, errlen)) ||
            (r = km_pg_exec(conn,
                            "SELECT id, district, street, house, "
                            "apartments::text, ksk_id, lift_operator_id, "
                            "lat::text, long::text, street_key, house_key "
                            "FROM buildings ORDER BY id COLLATE \"C\"",
                            0, NULL, &st.db_blds, err, errlen)))
                goto cleanup;
        dir_read_orgs(&st, &ocsv);
        if (st.nerr == 0)
                dir_read_blds(&st, &bcsv);
        if (st.nerr == 0 && cpath) {
                cx.path = cpath;
                cx.max_errors = (size_t)dc->max_errors;
                cx.known = dir_known;
                cx.opaque = &st;
                if ((r = directory_channels_read(&cx, err, errlen)))
                        goto cleanup;
                st.nerr += cx.nerr;
        }
        if (st.nerr) {
                r = km_err_set(err, errlen, KM_EINPUT,
                               "%zu invalid row(s); nothing imported", st.nerr);
                goto cleanup;
        }
        if ((r = dir_apply(conn, &st, err, errlen)) ||
            (!dc->dry_run &&
             (r = dir_handover(conn, conf, &st, err, errlen))) ||
            (cpath && (r = directory_channels_apply(conn, &cx, dc->dry_run, err,
                                                    errlen))))
                goto cleanup;
        r = st.dc->dry_run
                    ? km_pg_exec(conn, "ROLLBACK", 0, NULL, NULL, err, errlen)
                    : km_pg_commit(conn, err, errlen);
        if (r == 0 && !st.dc->dry_run)
                km_log_info("import: organisations +%zu ~%zu -%zu, buildings "
                            "+%zu ~%zu -%zu, responsibility %zu handed over",
                            st.oc.added, st.oc.changed, st.oc.removed,
                            st.bc.added, st.bc.changed, st.bc.removed,
                            st.hist.handovers);
cleanup:
        if (r && conn)
                km_pg_rollback(conn);
        PQclear(st.db_orgs);
        PQclear(st.db_blds);
        if (conn)
                PQfinish(conn);
        free(st.orgs);
        free(st.blds);
        directory_hist_free(&st.hist);
        directory_csv_free(&ocsv);
        directory_csv_free(&bcsv);
        directory_channels_free(&cx);
        free(cpath);
        free(opath);
        free(bpath);
        return r;
}
