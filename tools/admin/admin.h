/*
 * admin.h - komek-admin: schema migrations and topic creation.
 */
#ifndef ADMIN_H
#define ADMIN_H

#include "km_conf.h"
#include "km_err.h"

struct admin_conf {
        char *sql_dir; /* deploy/sql */
        int64_t timeout_ms;
};

/* admin_migrate.c */
int admin_migrate(const struct km_conf *conf, const struct admin_conf *ac,
                  char *err, size_t errlen) KM_MUSTCHECK;

/* admin_topics.c */
int admin_topics(const struct km_conf *conf, const struct admin_conf *ac,
                 char *err, size_t errlen) KM_MUSTCHECK;

#endif /* ADMIN_H */
