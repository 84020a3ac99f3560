/*
 * km_conf_int.h - what km_conf.c, km_conf_file.c and km_conf_pg.c share;
 * not for programs (they use km_conf.h).
 */
#ifndef KM_CONF_INT_H
#define KM_CONF_INT_H

#include "km_conf.h"

/* The key at path (common, the program's table, or <prog>.<per-program
 * key>); *common: whether it lives in struct km_conf.  NULL: none. */
const struct km_conf_key *km_conf_find(const struct km_conf *conf,
                                       const char *path, int *common);

/* Parse value into k's field; where ("file:line", "--flag") names it in
 * the error.  @returns 0 or KM_ECONFIG. */
int km_conf_set_key(struct km_conf *conf, const struct km_conf_key *k,
                    int common, const char *value, const char *where, char *err,
                    size_t errlen) KM_MUSTCHECK;

/* kafka { } and -X key=value: set (or replace) a librdkafka property. */
void km_conf_kafka_add(struct km_conf *conf, const char *key, const char *val);

/* Read conf->path (km_conf_file.c).  @returns 0 or KM_ECONFIG. */
int km_conf_load_file(struct km_conf *conf, char *err,
                      size_t errlen) KM_MUSTCHECK;

/* <prog>.pg_user into the conninfo strings (km_conf_pg.c). */
int km_conf_pg_user(struct km_conf *conf, char *err,
                    size_t errlen) KM_MUSTCHECK;

#endif
