/*
 * km_main.h - the start of every komek program's main, in one place:
 * args -> config (the key table, then the file, then flags: km_conf_main),
 * --help and --dump-config, then logging and the signal handlers (km_sig:
 * they only set a flag).  What a program checks beyond its key table
 * (formats, salts, sub-commands) stays in its main, between the two calls.
 *
 * XXX: unlike the rest of common/, km_main_conf writes: --help and
 * --dump-config on stdout, the one config error line on stderr.  It runs
 * before logging exists, and every program printed exactly these lines.
 */
#ifndef KM_MAIN_H
#define KM_MAIN_H

#include "km_conf.h"

#define KM_MAIN_ARGS 0x1 /* the program takes arguments (conf->args) */
#define KM_MAIN_QUIET                                                          \
        0x2 /* a CLI: warnings and errors unless log_level is
                           * debug */

/**
 * @brief Fill conf and pstruct for prog ("komek-<group>": the key table's
 * group is what follows "komek-"), then act on --help (usage(conf): the
 * program's usage on stdout) and --dump-config (km_conf_dump on stdout).
 * Without KM_MAIN_ARGS in flags an argument is a usage error.
 * @param pstruct NULL-able, as for km_conf_main
 * @returns 0: main goes on; 1: main returns *exit_code at once (0 after
 *          --help or --dump-config, 2 after a config or usage error,
 *          printed as "komek-<group>: <why>" on stderr); conf is then
 *          destroyed.
 */
int km_main_conf(struct km_conf *conf, const char *prog,
                 const struct km_conf_key *ptable, void *pstruct, int argc,
                 char **argv, void (*usage)(const struct km_conf *conf),
                 int flags, int *exit_code) KM_MUSTCHECK;

/**
 * @brief Logging as prog (kept: a string literal) at conf->log_level
 * (KM_MAIN_QUIET in flags: at least warn, unless debug), then the
 * SIGINT/SIGTERM/SIGHUP handlers and SIGPIPE ignored (km_sig_install).
 */
void km_main_start(const struct km_conf *conf, const char *prog, int flags);

#endif /* KM_MAIN_H */
