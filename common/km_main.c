/*
 * km_main.c - see km_main.h.
 */
#include "km_main.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "km_log.h"
#include "km_sig.h"

int km_main_conf(struct km_conf *conf, const char *prog,
                 const struct km_conf_key *ptable, void *pstruct, int argc,
                 char **argv, void (*usage)(const struct km_conf *conf),
                 int flags, int *exit_code)
{
        const char *group = strncmp(prog, "komek-", 6) ? prog : prog + 6;
        char err[512];

        if (km_conf_main(conf, group, ptable, pstruct, argc, argv, err,
                         sizeof(err))) {
                fprintf(stderr, "%s: %s\n", prog, err);
                *exit_code = 2;
        } else if (conf->help) {
                usage(conf);
                *exit_code = 0;
        } else if (conf->dump) {
                km_conf_dump(conf, stdout);
                *exit_code = 0;
        } else if (conf->nargs != 0 && !(flags & KM_MAIN_ARGS)) {
                fprintf(stderr, "%s: unexpected argument %s\n", prog,
                        conf->args[0]);
                *exit_code = 2;
        } else {
                return 0;
        }
        km_conf_destroy(conf);
        return 1;
}

void km_main_start(const struct km_conf *conf, const char *prog, int flags)
{
        enum km_log_level lvl = KM_LOG_INFO;

        km_log_level_parse(conf->log_level, &lvl);
        if ((flags & KM_MAIN_QUIET) && lvl < KM_LOG_WARN)
                lvl = strcmp(conf->log_level, "debug") ? KM_LOG_WARN : lvl;
        km_log_init(prog, lvl, conf->log_json);
        /* sigaction fails only for a bad signal number, which these are
         * not; should it ever, SIGTERM would kill mid-batch: say so */
        if (km_sig_install())
                km_log_error("signal handlers not installed: %s",
                             strerror(errno));
}
