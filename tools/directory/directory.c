/*
 * directory.c - komek-directory: `import DIR` loads DIR/organisations.csv
 * and DIR/buildings.csv (komek-gen's format) into the directory tables and
 * reports what changed; `lookup ADDRESS...` resolves addresses as the
 * router does; `stats` prints counts.  Running routers pick an import up
 * by the bumped directory_version (or at once on SIGHUP).
 */
#include <stdio.h>
#include <string.h>

#include "directory.h"
#include "km_log.h"
#include "km_main.h"
#include "km_sig.h"

static const struct km_conf_key directory_keys[] = {
        {"directory.organisations", KM_CT_STR, NULL, 0, 4096,
         offsetof(struct directory_conf, orgs_file), "organisations",
         "organisations CSV (default DIR/organisations.csv)"},
        {"directory.buildings", KM_CT_STR, NULL, 0, 4096,
         offsetof(struct directory_conf, buildings_file), "buildings",
         "buildings CSV (default DIR/buildings.csv)"},
        {"directory.channels", KM_CT_STR, NULL, 0, 4096,
         offsetof(struct directory_conf, channels_file), "channels",
         "delivery channels CSV (default DIR/channels.csv when it exists)"},
        {"directory.prune", KM_CT_BOOL, "false", 0, 0,
         offsetof(struct directory_conf, prune), "prune",
         "delete rows that are not in the files"},
        {"directory.dry_run", KM_CT_BOOL, "false", 0, 0,
         offsetof(struct directory_conf, dry_run), "dry-run",
         "validate and report, write nothing"},
        {"directory.max_errors", KM_CT_INT, "20", 1, 100000,
         offsetof(struct directory_conf, max_errors), "max-errors",
         "invalid rows listed"},
        {"directory.effective", KM_CT_STR, NULL, 0, 64,
         offsetof(struct directory_conf, effective), "effective",
         "import: when the changes take effect (YYYY-MM-DD local "
         "midnight, or RFC 3339; default today)"},
        {"directory.utc_offset_hours", KM_CT_INT, "5", -12, 14,
         offsetof(struct directory_conf, utc_offset_h), "utc-offset-hours",
         "local time of a date-only --effective (Astana: UTC+5)"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void directory_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-directory [options] import DIR\n"
                "       komek-directory [options] lookup ADDRESS|BUILDING_ID...\n"
                "       komek-directory [options] who BUILDING CATEGORY [TIME]\n"
                "       komek-directory [options] stats\n"
                "  import   validate and import DIR/organisations.csv and\n"
                "           DIR/buildings.csv (and DIR/channels.csv when it\n"
                "           exists); print what changed\n"
                "  lookup   match addresses to buildings as the router does\n"
                "  who      the organisation responsible for BUILDING and\n"
                "           CATEGORY at TIME (RFC 3339; default now)\n"
                "  stats    organisations per kind, buildings, version\n"
                "exit: 0 ok, 1 invalid input or failure, 2 usage\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct directory_conf dc;
        char err[512];
        const char *cmd;
        int r;

        memset(&dc, 0, sizeof(dc));
        if (km_main_conf(&conf, "komek-directory", directory_keys, &dc, argc,
                         argv, directory_usage, KM_MAIN_ARGS, &r))
                return r;
        km_main_start(&conf, "komek-directory", 0);
        cmd = conf.nargs > 0 ? conf.args[0] : "";
        if (strcmp(cmd, "import") == 0 && conf.nargs == 2) {
                r = directory_import(&conf, &dc, conf.args[1], err,
                                     sizeof(err));
        } else if (strcmp(cmd, "lookup") == 0 && conf.nargs >= 2) {
                r = directory_lookup(&conf, conf.nargs - 1, conf.args + 1, err,
                                     sizeof(err));
                if (r == KM_EINPUT) { /* some address unknown: said so */
                        km_conf_destroy(&conf);
                        return 1;
                }
        } else if (strcmp(cmd, "who") == 0 &&
                   (conf.nargs == 3 || conf.nargs == 4)) {
                r = directory_hist_who(&conf, conf.args[1], conf.args[2],
                                       conf.nargs == 4 ? conf.args[3] : NULL,
                                       err, sizeof(err));
                if (r == KM_EINPUT) { /* nobody on record: said so */
                        km_conf_destroy(&conf);
                        return 1;
                }
        } else if (strcmp(cmd, "stats") == 0 && conf.nargs == 1) {
                r = directory_stats(&conf, err, sizeof(err));
        } else {
                fprintf(stderr, "komek-directory: expected import DIR, "
                                "lookup ADDRESS... or stats; see --help\n");
                km_conf_destroy(&conf);
                return 2;
        }
        if (r)
                km_log_error("%s: %s", cmd, err);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
