/*
 * km_conf_file.c - the configuration file (libconfig): the common groups,
 * the program's own group, kafka { } passed to librdkafka as is, and the
 * categories list; every value type-checked against its key
 * (km_conf_set_key), errors as "file:line: key: why".  See km_conf.h.
 */
#include <errno.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>

#include "km_conf.h"
#include "km_conf_int.h"
#include "km_util.h"

/* Groups that belong to komek programs: another program's group is valid
 * in a shared file and left to that program. */
static const char *const km_conf_prog_groups[] = {
        "intake",    "gateway",  "gen",   "vote",      "keys",
        "router",    "tasksink", "inbox", "directory", "analytics",
        "escalator", "report",   "web",   "notify",    "admin",
        "metrics",   "bench",    "test",  NULL,
};

void km_conf_kafka_add(struct km_conf *conf, const char *key, const char *val)
{
        for (size_t i = 0; i < conf->nkafka; i++) {
                if (strcmp(conf->kafka_keys[i], key) == 0) {
                        free(conf->kafka_vals[i]);
                        conf->kafka_vals[i] = km_xstrdup(val);
                        return;
                }
        }
        conf->kafka_keys = km_xrealloc(conf->kafka_keys,
                                       (conf->nkafka + 1) * sizeof(char *));
        conf->kafka_vals = km_xrealloc(conf->kafka_vals,
                                       (conf->nkafka + 1) * sizeof(char *));
        conf->kafka_keys[conf->nkafka] = km_xstrdup(key);
        conf->kafka_vals[conf->nkafka] = km_xstrdup(val);
        conf->nkafka++;
}

/* A libconfig scalar as text, type-checked against the key. */
static int km_conf_scalar(const config_setting_t *s, enum km_conf_type want,
                          char *buf, size_t len, const char **out)
{
        int t = config_setting_type(s);

        switch (t) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64:
                if (want == KM_CT_STR || want == KM_CT_BOOL)
                        return -1;
                snprintf(buf, len, "%lld",
                         (long long)config_setting_get_int64(s));
                *out = buf;
                return 0;
        case CONFIG_TYPE_FLOAT:
                if (want != KM_CT_DOUBLE)
                        return -1;
                snprintf(buf, len, "%.17g", config_setting_get_float(s));
                *out = buf;
                return 0;
        case CONFIG_TYPE_BOOL:
                if (want != KM_CT_BOOL)
                        return -1;
                *out = config_setting_get_bool(s) ? "true" : "false";
                return 0;
        case CONFIG_TYPE_STRING:
                if (want != KM_CT_STR)
                        return -1;
                *out = config_setting_get_string(s);
                return 0;
        default:
                return -1;
        }
}

static const char *const km_conf_type_names[] = {"an integer", "a number",
                                                 "true or false", "a string"};

static int km_conf_file_kafka(struct km_conf *conf, config_setting_t *g,
                              char *err, size_t errlen)
{
        char buf[64], key[256];
        const char *val;

        for (int i = 0; i < config_setting_length(g); i++) {
                config_setting_t *s = config_setting_get_elem(g, i);
                const char *name = config_setting_name(s);

                if (km_conf_scalar(s, KM_CT_STR, buf, sizeof(buf), &val) &&
                    km_conf_scalar(s, KM_CT_INT, buf, sizeof(buf), &val) &&
                    km_conf_scalar(s, KM_CT_BOOL, buf, sizeof(buf), &val))
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s:%d: kafka.%s: expected a scalar",
                                          conf->path,
                                          config_setting_source_line(s), name);
                snprintf(key, sizeof(key), "%s", name);
                for (char *p = key; *p; p++)
                        if (*p == '_')
                                *p = '.';
                if (strcmp(key, "bootstrap.servers") == 0) {
                        free(conf->brokers);
                        conf->brokers = km_xstrdup(val);
                } else {
                        km_conf_kafka_add(conf, key, val);
                }
        }
        return 0;
}

static int km_conf_file_categories(struct km_conf *conf, config_setting_t *l,
                                   char *err, size_t errlen)
{
        int n = config_setting_length(l);

        if (!config_setting_is_list(l) || n < 1)
                return km_err_set(err, errlen, KM_ECONFIG,
                                  "%s:%d: categories: expected a non-empty "
                                  "list of groups",
                                  conf->path, config_setting_source_line(l));
        for (size_t i = 0; i < conf->ncategories; i++) {
                free(conf->categories[i].code);
                free(conf->categories[i].kind);
                free(conf->categories[i].ru);
                free(conf->categories[i].en);
        }
        free(conf->categories);
        conf->categories = km_xcalloc((size_t)n, sizeof(struct km_category));
        conf->ncategories = 0;
        for (int i = 0; i < n; i++) {
                config_setting_t *g = config_setting_get_elem(l, i);
                struct km_category *c = &conf->categories[i];
                const char *code = NULL, *kind = NULL, *ru = NULL, *en = NULL;
                int sla = 0, line = config_setting_source_line(g);

                if (!config_setting_is_group(g) ||
                    !config_setting_lookup_string(g, "code", &code) ||
                    !config_setting_lookup_string(g, "kind", &kind) ||
                    !config_setting_lookup_int(g, "sla_hours", &sla))
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s:%d: categories.[%d]: needs code, "
                                          "kind (strings) and sla_hours (int)",
                                          conf->path, line, i);
                config_setting_lookup_string(g, "ru", &ru);
                config_setting_lookup_string(g, "en", &en);
                if (sla < 1 || sla > 8760)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s:%d: categories.%s.sla_hours: %d "
                                          "not in [1, 8760]",
                                          conf->path, line, code, sla);
                for (int j = 0; j < config_setting_length(g); j++) {
                        const char *nm = config_setting_name(
                                config_setting_get_elem(g, j));

                        if (strcmp(nm, "code") && strcmp(nm, "kind") &&
                            strcmp(nm, "sla_hours") && strcmp(nm, "ru") &&
                            strcmp(nm, "en"))
                                return km_err_set(
                                        err, errlen, KM_ECONFIG,
                                        "%s:%d: categories.%s.%s: unknown key",
                                        conf->path, line, code, nm);
                }
                c->code = km_xstrdup(code);
                c->kind = km_xstrdup(kind);
                c->ru = km_xstrdup(ru ? ru : code);
                c->en = km_xstrdup(en ? en : code);
                c->sla_hours = sla;
                conf->ncategories++;
        }
        return 0;
}

static int km_conf_file_group(struct km_conf *conf, config_setting_t *g,
                              char *err, size_t errlen)
{
        const char *gname = config_setting_name(g);
        char path[256], where[512], buf[64];
        const char *val;

        for (int i = 0; i < config_setting_length(g); i++) {
                config_setting_t *s = config_setting_get_elem(g, i);
                const struct km_conf_key *k;
                int common = 0, line = config_setting_source_line(s);

                snprintf(path, sizeof(path), "%s.%s", gname,
                         config_setting_name(s));
                snprintf(where, sizeof(where), "%s:%d", conf->path, line);
                k = km_conf_find(conf, path, &common);
                if (k == NULL)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: unknown key", where, path);
                if (km_conf_scalar(s, k->type, buf, sizeof(buf), &val))
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: expected %s", where, path,
                                          km_conf_type_names[k->type]);
                if (km_conf_set_key(conf, k, common, val, where, err, errlen))
                        return KM_ECONFIG;
        }
        return 0;
}

static int km_conf_is_prog_group(const char *name)
{
        for (int i = 0; km_conf_prog_groups[i]; i++)
                if (strcmp(km_conf_prog_groups[i], name) == 0)
                        return 1;
        return 0;
}

int km_conf_load_file(struct km_conf *conf, char *err, size_t errlen)
{
        config_t cfg;
        config_setting_t *root;
        int r = 0;

        config_init(&cfg);
        if (!config_read_file(&cfg, conf->path)) {
                if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
                        r = km_err_set(err, errlen, KM_ECONFIG,
                                       "%s: cannot read: %s", conf->path,
                                       strerror(errno));
                else
                        r = km_err_set(err, errlen, KM_ECONFIG, "%s:%d: %s",
                                       conf->path, config_error_line(&cfg),
                                       config_error_text(&cfg));
                goto cleanup;
        }
        root = config_root_setting(&cfg);
        for (int i = 0; i < config_setting_length(root); i++) {
                config_setting_t *s = config_setting_get_elem(root, i);
                const char *name = config_setting_name(s);
                int line = config_setting_source_line(s);

                if (strcmp(name, "categories") == 0) {
                        r = km_conf_file_categories(conf, s, err, errlen);
                } else if (!config_setting_is_group(s)) {
                        r = km_err_set(err, errlen, KM_ECONFIG,
                                       "%s:%d: %s: unknown key", conf->path,
                                       line, name);
                } else if (strcmp(name, "kafka") == 0) {
                        r = km_conf_file_kafka(conf, s, err, errlen);
                } else if (!strcmp(name, "topics") || !strcmp(name, "pg") ||
                           !strcmp(name, "log") || !strcmp(name, "limits") ||
                           strcmp(name, conf->prog) == 0) {
                        r = km_conf_file_group(conf, s, err, errlen);
                } else if (!km_conf_is_prog_group(name)) {
                        r = km_err_set(err, errlen, KM_ECONFIG,
                                       "%s:%d: %s: unknown group", conf->path,
                                       line, name);
                }
                if (r)
                        goto cleanup;
        }
cleanup:
        config_destroy(&cfg);
        return r;
}
