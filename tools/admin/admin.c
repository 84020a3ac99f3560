/*
 * admin.c - komek-admin: `migrate` applies deploy/sql/NNN_*.sql in order
 * and records them; `topics` creates the configured topics with their
 * partition counts.  Both are idempotent.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "km_log.h"
#include "km_main.h"
#include "km_sig.h"

static const struct km_conf_key admin_keys[] = {
        {"admin.sql_dir", KM_CT_STR, "deploy/sql", 0, 4096,
         offsetof(struct admin_conf, sql_dir), "sql-dir",
         "directory of NNN_name.sql migrations"},
        {"admin.timeout_ms", KM_CT_INT, "30000", 100, 600000,
         offsetof(struct admin_conf, timeout_ms), "timeout-ms",
         "broker operation timeout"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static void admin_usage(const struct km_conf *conf)
{
        fprintf(stdout,
                "usage: komek-admin [options] migrate|topics|all\n"
                "  migrate   apply deploy/sql migrations not yet applied\n"
                "  topics    create the configured Kafka topics\n"
                "  all       both\n");
        km_conf_usage(conf, stdout);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct admin_conf ac;
        char err[512];
        const char *cmd;
        int r;

        memset(&ac, 0, sizeof(ac));
        if (km_main_conf(&conf, "komek-admin", admin_keys, &ac, argc, argv,
                         admin_usage, KM_MAIN_ARGS, &r))
                return r;
        km_main_start(&conf, "komek-admin", 0);
        if (conf.nargs != 1) {
                fprintf(stderr, "komek-admin: expected one command "
                                "(migrate, topics, all); see --help\n");
                km_conf_destroy(&conf);
                return 2;
        }
        cmd = conf.args[0];
        if (strcmp(cmd, "migrate") == 0) {
                r = admin_migrate(&conf, &ac, err, sizeof(err));
        } else if (strcmp(cmd, "topics") == 0) {
                r = admin_topics(&conf, &ac, err, sizeof(err));
        } else if (strcmp(cmd, "all") == 0) {
                r = admin_migrate(&conf, &ac, err, sizeof(err));
                if (r == 0)
                        r = admin_topics(&conf, &ac, err, sizeof(err));
        } else {
                fprintf(stderr, "komek-admin: unknown command %s\n", cmd);
                km_conf_destroy(&conf);
                return 2;
        }
        if (r)
                km_log_error("%s: %s", cmd, err);
        km_conf_destroy(&conf);
        return r == 0 ? 0 : r == KM_ECONFIG ? 2 : 1;
}
