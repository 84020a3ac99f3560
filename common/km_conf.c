/*
 * km_conf.c - see km_conf.h.  Reads the operator's configuration file and
 * command line; trusts neither: every value is type- and range-checked.
 */
#include "km_conf.h"

#include <errno.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "km_conf_int.h"
#include "km_util.h"

#define KM_OFF(f) offsetof(struct km_conf, f)

/* The common keys.  Defaults match deploy/komek.conf. */
static const struct km_conf_key km_conf_common[] = {
        {"kafka.bootstrap_servers", KM_CT_STR, "127.0.0.1:19092", 0, 1024,
         KM_OFF(brokers), "brokers",
         "Kafka bootstrap servers (env KOMEK_BROKERS)"},
        {"topics.complaints", KM_CT_STR, "complaints", 0, 200,
         KM_OFF(topic_complaints), NULL, "topic of incoming complaints"},
        {"topics.dlq", KM_CT_STR, "complaints.dlq", 0, 200, KM_OFF(topic_dlq),
         NULL, "dead-letter topic"},
        {"topics.dispatch", KM_CT_STR, "dispatch", 0, 200,
         KM_OFF(topic_dispatch), NULL, "routed tasks, keyed by organisation"},
        {"topics.task_events", KM_CT_STR, "task-events", 0, 200,
         KM_OFF(topic_task_events), NULL, "task state changes"},
        {"topics.votes", KM_CT_STR, "votes", 0, 200, KM_OFF(topic_votes), NULL,
         "residents' KSK votes"},
        {"topics.escalations", KM_CT_STR, "escalations", 0, 200,
         KM_OFF(topic_escalations), NULL, "escalations to the city"},
        {"topics.complaints_partitions", KM_CT_INT, "6", 1, 1000,
         KM_OFF(part_complaints), NULL, "partitions of complaints"},
        {"topics.dlq_partitions", KM_CT_INT, "1", 1, 1000, KM_OFF(part_dlq),
         NULL, "partitions of complaints.dlq"},
        {"topics.dispatch_partitions", KM_CT_INT, "6", 1, 1000,
         KM_OFF(part_dispatch), NULL, "partitions of dispatch"},
        {"topics.task_events_partitions", KM_CT_INT, "3", 1, 1000,
         KM_OFF(part_task_events), NULL, "partitions of task-events"},
        {"topics.votes_partitions", KM_CT_INT, "3", 1, 1000, KM_OFF(part_votes),
         NULL, "partitions of votes"},
        {"topics.escalations_partitions", KM_CT_INT, "1", 1, 1000,
         KM_OFF(part_escalations), NULL, "partitions of escalations"},
        {"topics.replication_factor", KM_CT_INT, "1", 1, 16,
         KM_OFF(topic_replicas), NULL,
         "replicas of every topic (3 on a cluster)"},
        {"topics.min_insync_replicas", KM_CT_INT, "0", 0, 16,
         KM_OFF(topic_min_isr), NULL,
         "min.insync.replicas of every topic (0: the broker's; 2 of 3)"},
        {"topics.complaints_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_complaints), NULL, "override for complaints (0: none)"},
        {"topics.dlq_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_dlq), NULL, "override for complaints.dlq (0: none)"},
        {"topics.dispatch_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_dispatch), NULL, "override for dispatch (0: none)"},
        {"topics.task_events_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_task_events), NULL, "override for task-events (0: none)"},
        {"topics.votes_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_votes), NULL, "override for votes (0: none)"},
        {"topics.escalations_replication_factor", KM_CT_INT, "0", 0, 16,
         KM_OFF(repl_escalations), NULL, "override for escalations (0: none)"},
        {"pg.conninfo", KM_CT_STR,
         "host=127.0.0.1 port=5432 dbname=komek user=komek", 0, 4096,
         KM_OFF(pg_conninfo), "pg", "libpq conninfo (env KOMEK_PG_CONNINFO)"},
        {"pg.read_conninfo", KM_CT_STR, "", 0, 4096, KM_OFF(pg_read_conninfo),
         NULL,
         "conninfo of a standby for the readers (komek-report, the dashboard, "
         "Open311 GET); empty: pg.conninfo"},
        {"pg.connect_timeout_s", KM_CT_INT, "30", 0, 3600,
         KM_OFF(pg_connect_timeout_s), NULL,
         "how long to retry connecting at start"},
        {"log.level", KM_CT_STR, "info", 0, 16, KM_OFF(log_level), "log-level",
         "debug, info, warn or error"},
        {"log.json", KM_CT_BOOL, "false", 0, 0, KM_OFF(log_json), "log-json",
         "one JSON object per log line"},
        {"limits.max_message_bytes", KM_CT_INT, "65536", 1024, 16777216,
         KM_OFF(max_message_bytes), NULL, "largest accepted complaint"},
        {"limits.max_description_chars", KM_CT_INT, "4000", 1, 100000,
         KM_OFF(max_description_chars), NULL,
         "longest description (characters)"},
        {"limits.future_skew_s", KM_CT_INT, "86400", 0, 31622400,
         KM_OFF(future_skew_s), NULL,
         "how far in the future received_at may be"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

/* Keys every program has in its own group: "<prog>.pg_user" (path here
 * without the group; km_conf_find matches "<conf->prog>.pg_user"). */
static const struct km_conf_key km_conf_per_prog[] = {
        {"pg_user", KM_CT_STR, "", 0, 63, KM_OFF(pg_user), NULL,
         "PostgreSQL role this program logs in as (its least-privilege "
         "login, komek_<prog>_app); replaces the user of pg.conninfo and "
         "pg.read_conninfo; empty: theirs"},
        {NULL, 0, NULL, 0, 0, 0, NULL, NULL},
};

static const struct {
        const char *code, *kind, *ru, *en;
        int sla;
} km_conf_default_cats[] = {
        {"water_supply", "ksk", "Водоснабжение", "Water supply", 24},
        {"heating", "ksk", "Отопление", "Heating", 24},
        {"electricity", "ksk", "Электроснабжение", "Electricity", 12},
        {"sanitation", "ksk", "Санитария и вывоз мусора", "Sanitation", 48},
        {"lift", "lift_operator", "Лифты", "Lifts", 24},
        {"roof", "ksk", "Кровля", "Roof", 72},
        {"common_areas", "ksk", "Места общего пользования", "Common areas", 72},
        {"gas", "ksk", "Газоснабжение", "Gas", 4},
        {"other", "ksk", "Прочее", "Other", 120},
};

static void *km_conf_field(const struct km_conf *conf,
                           const struct km_conf_key *k, int common)
{
        char *base = common ? (char *)conf : (char *)conf->pstruct;

        return base + k->offset;
}

const struct km_conf_key *km_conf_find(const struct km_conf *conf,
                                       const char *path, int *common)
{
        for (const struct km_conf_key *k = km_conf_common; k->path; k++) {
                if (strcmp(k->path, path) == 0) {
                        *common = 1;
                        return k;
                }
        }
        for (const struct km_conf_key *k = conf->ptable; k && k->path; k++) {
                if (strcmp(k->path, path) == 0) {
                        *common = 0;
                        return k;
                }
        }
        {
                size_t n = strlen(conf->prog);

                if (strncmp(path, conf->prog, n) == 0 && path[n] == '.')
                        for (const struct km_conf_key *k = km_conf_per_prog;
                             k->path; k++)
                                if (strcmp(k->path, path + n + 1) == 0) {
                                        *common = 1;
                                        return k;
                                }
        }
        return NULL;
}

/* Parse text into the key's field.  where: "file:line" or "--flag". */
int km_conf_set_key(struct km_conf *conf, const struct km_conf_key *k,
                    int common, const char *value, const char *where, char *err,
                    size_t errlen)
{
        void *f = km_conf_field(conf, k, common);
        char *end;

        switch (k->type) {
        case KM_CT_INT: {
                long long v;

                errno = 0;
                v = strtoll(value, &end, 10);
                if (errno || end == value || *end)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: \"%s\" is not an integer",
                                          where, k->path, value);
                if ((double)v < k->min)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: %lld < %.0f", where, k->path,
                                          v, k->min);
                if ((double)v > k->max)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: %lld > %.0f", where, k->path,
                                          v, k->max);
                *(int64_t *)f = v;
                break;
        }
        case KM_CT_DOUBLE: {
                double v;

                errno = 0;
                v = strtod(value, &end);
                if (errno || end == value || *end || v != v)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: \"%s\" is not a number",
                                          where, k->path, value);
                if (v < k->min || v > k->max)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: %g not in [%g, %g]", where,
                                          k->path, v, k->min, k->max);
                *(double *)f = v;
                break;
        }
        case KM_CT_BOOL:
                if (!strcmp(value, "true") || !strcmp(value, "1") ||
                    !strcmp(value, "yes"))
                        *(int *)f = 1;
                else if (!strcmp(value, "false") || !strcmp(value, "0") ||
                         !strcmp(value, "no"))
                        *(int *)f = 0;
                else
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: \"%s\" is not true/false",
                                          where, k->path, value);
                break;
        case KM_CT_STR:
                if (k->max > 0 && (double)strlen(value) > k->max)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: %s: longer than %.0f bytes",
                                          where, k->path, k->max);
                free(*(char **)f);
                *(char **)f = km_xstrdup(value);
                break;
        }
        return 0;
}

int km_conf_set(struct km_conf *conf, const char *path, const char *value,
                char *err, size_t errlen)
{
        const struct km_conf_key *k;
        int common = 0;
        char where[300];

        k = km_conf_find(conf, path, &common);
        snprintf(where, sizeof(where), "--set");
        if (k == NULL)
                return km_err_set(err, errlen, KM_ECONFIG, "%s: unknown key",
                                  where);
        return km_conf_set_key(conf, k, common, value, where, err, errlen);
}

static int km_conf_defaults(struct km_conf *conf, char *err, size_t errlen)
{
        size_t n =
                sizeof(km_conf_default_cats) / sizeof(km_conf_default_cats[0]);

        for (const struct km_conf_key *k = km_conf_common; k->path; k++)
                if (k->def &&
                    km_conf_set_key(conf, k, 1, k->def, "default", err, errlen))
                        return KM_ECONFIG;
        for (const struct km_conf_key *k = conf->ptable; k && k->path; k++)
                if (k->def &&
                    km_conf_set_key(conf, k, 0, k->def, "default", err, errlen))
                        return KM_ECONFIG;
        for (const struct km_conf_key *k = km_conf_per_prog; k->path; k++)
                if (k->def &&
                    km_conf_set_key(conf, k, 1, k->def, "default", err, errlen))
                        return KM_ECONFIG;
        conf->categories = km_xcalloc(n, sizeof(struct km_category));
        for (size_t i = 0; i < n; i++) {
                conf->categories[i].code =
                        km_xstrdup(km_conf_default_cats[i].code);
                conf->categories[i].kind =
                        km_xstrdup(km_conf_default_cats[i].kind);
                conf->categories[i].ru = km_xstrdup(km_conf_default_cats[i].ru);
                conf->categories[i].en = km_xstrdup(km_conf_default_cats[i].en);
                conf->categories[i].sla_hours = km_conf_default_cats[i].sla;
        }
        conf->ncategories = n;
        return 0;
}

static const struct km_conf_key *km_conf_flag(const struct km_conf *conf,
                                              const char *flag, size_t len,
                                              int *common)
{
        for (int pass = 0; pass < 2; pass++) {
                const struct km_conf_key *k =
                        pass == 0 ? km_conf_common : conf->ptable;

                for (; k && k->path; k++) {
                        if (k->flag && strlen(k->flag) == len &&
                            strncmp(k->flag, flag, len) == 0) {
                                *common = pass == 0;
                                return k;
                        }
                }
        }
        return NULL;
}

/* Flags: --config F, --set k=v, -X prop=v, --dump-config, --help, and the
 * tables' flags (--flag v, --flag=v; a bool flag alone means true). */
static int km_conf_flags(struct km_conf *conf, int argc, char **argv, int pass,
                         char *err, size_t errlen)
{
        int dashdash = 0;

        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *eq, *val = NULL;
                const struct km_conf_key *k;
                int common = 0;
                size_t nlen;

                if (dashdash || a[0] != '-' || a[1] == '\0') {
                        if (pass == 1)
                                conf->args[conf->nargs++] = argv[i];
                        continue;
                }
                if (strcmp(a, "--") == 0) {
                        dashdash = 1;
                        continue;
                }
                if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                        conf->help = 1;
                        continue;
                }
                if (!strcmp(a, "--dump-config")) {
                        conf->dump = 1;
                        continue;
                }
                if (!strcmp(a, "--config") || !strcmp(a, "-c") ||
                    !strcmp(a, "--set") || !strcmp(a, "-X")) {
                        int is_config =
                                !strcmp(a, "--config") || !strcmp(a, "-c");

                        if (i + 1 >= argc)
                                return km_err_set(err, errlen, KM_ECONFIG,
                                                  "%s: needs a value", a);
                        val = argv[++i];
                        if (pass == 0 && is_config) {
                                free(conf->path);
                                conf->path = km_xstrdup(val);
                        } else if (pass == 1 && !is_config) {
                                const char *e2 = strchr(val, '=');
                                char *key;
                                int r = 0;

                                if (e2 == NULL)
                                        return km_err_set(err, errlen,
                                                          KM_ECONFIG,
                                                          "%s %s: expected "
                                                          "key=value",
                                                          a, val);
                                key = km_xstrndup(val, (size_t)(e2 - val));
                                if (!strcmp(a, "-X"))
                                        km_conf_kafka_add(conf, key, e2 + 1);
                                else
                                        r = km_conf_set(conf, key, e2 + 1, err,
                                                        errlen);
                                free(key);
                                if (r)
                                        return r;
                        }
                        continue;
                }
                if (a[1] != '-')
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: unknown option (see --help)", a);
                eq = strchr(a + 2, '=');
                nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
                k = km_conf_flag(conf, a + 2, nlen, &common);
                if (k == NULL)
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: unknown option (see --help)", a);
                if (eq)
                        val = eq + 1;
                else if (k->type == KM_CT_BOOL)
                        val = "true";
                else if (i + 1 < argc)
                        val = argv[++i];
                else
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "--%s: needs a value", k->flag);
                if (pass == 1) {
                        char where[128];

                        snprintf(where, sizeof(where), "--%s", k->flag);
                        if (km_conf_set_key(conf, k, common, val, where, err,
                                            errlen))
                                return KM_ECONFIG;
                }
        }
        return 0;
}

int km_conf_main(struct km_conf *conf, const char *prog,
                 const struct km_conf_key *ptable, void *pstruct, int argc,
                 char **argv, char *err, size_t errlen)
{
        const char *env;
        int r;

        memset(conf, 0, sizeof(*conf));
        conf->prog = prog;
        conf->ptable = ptable;
        conf->pstruct = pstruct;
        conf->args = km_xcalloc((size_t)argc + 1, sizeof(char *));
        if ((r = km_conf_defaults(conf, err, errlen)))
                return r;
        /* pass 0 only finds --config; pass 1 applies flags after the file */
        if ((r = km_conf_flags(conf, argc, argv, 0, err, errlen)))
                return r;
        if (conf->help)
                return 0;
        if (conf->path == NULL && (env = getenv("KOMEK_CONFIG")) && *env)
                conf->path = km_xstrdup(env);
        if (conf->path && (r = km_conf_load_file(conf, err, errlen)))
                return r;
        if ((env = getenv("KOMEK_BROKERS")) && *env) {
                free(conf->brokers);
                conf->brokers = km_xstrdup(env);
        }
        if ((env = getenv("KOMEK_PG_CONNINFO")) && *env) {
                free(conf->pg_conninfo);
                conf->pg_conninfo = km_xstrdup(env);
        }
        if ((r = km_conf_flags(conf, argc, argv, 1, err, errlen)))
                return r;
        if ((r = km_conf_pg_user(conf, err, errlen)))
                return r;
        {
                if (strcmp(conf->log_level, "debug") &&
                    strcmp(conf->log_level, "info") &&
                    strcmp(conf->log_level, "warn") &&
                    strcmp(conf->log_level, "error"))
                        return km_err_set(err, errlen, KM_ECONFIG,
                                          "%s: log.level: \"%s\" is not one "
                                          "of debug, info, warn, error",
                                          conf->path ? conf->path : "flags",
                                          conf->log_level);
        }
        return 0;
}

const struct km_category *km_conf_category(const struct km_conf *conf,
                                           const char *code)
{
        for (size_t i = 0; i < conf->ncategories; i++)
                if (strcmp(conf->categories[i].code, code) == 0)
                        return &conf->categories[i];
        return NULL;
}

static void km_conf_dump_table(const struct km_conf *conf,
                               const struct km_conf_key *k, int common,
                               FILE *fp)
{
        for (; k && k->path; k++) {
                const void *f = km_conf_field(conf, k, common);

                switch (k->type) {
                case KM_CT_INT:
                        fprintf(fp, "%s = %lld\n", k->path,
                                (long long)*(const int64_t *)f);
                        break;
                case KM_CT_DOUBLE:
                        fprintf(fp, "%s = %g\n", k->path, *(const double *)f);
                        break;
                case KM_CT_BOOL:
                        fprintf(fp, "%s = %s\n", k->path,
                                *(const int *)f ? "true" : "false");
                        break;
                case KM_CT_STR: {
                        const char *s = *(char *const *)f;

                        /* secrets (notify.smtp_password) stay out too */
                        if (s && *s &&
                            (strstr(k->path, "password") ||
                             strstr(k->path, "secret")))
                                s = "********";
                        fprintf(fp, "%s = \"%s\"\n", k->path, s ? s : "");
                        break;
                }
                }
        }
}

void km_conf_dump(const struct km_conf *conf, FILE *fp)
{
        fprintf(fp, "# effective configuration of komek-%s (file: %s)\n",
                conf->prog, conf->path ? conf->path : "none");
        km_conf_dump_table(conf, km_conf_common, 1, fp);
        for (size_t i = 0; i < conf->nkafka; i++) {
                /* secrets stay out of dumps */
                int secret = strstr(conf->kafka_keys[i], "password") ||
                             strstr(conf->kafka_keys[i], "secret");

                fprintf(fp, "kafka.%s = \"%s\"\n", conf->kafka_keys[i],
                        secret ? "********" : conf->kafka_vals[i]);
        }
        for (size_t i = 0; i < conf->ncategories; i++)
                fprintf(fp,
                        "categories.%s = {kind = \"%s\"; sla_hours = %lld;}\n",
                        conf->categories[i].code, conf->categories[i].kind,
                        (long long)conf->categories[i].sla_hours);
        for (const struct km_conf_key *k = km_conf_per_prog; k->path; k++)
                fprintf(fp, "%s.%s = \"%s\"\n", conf->prog, k->path,
                        *(char *const *)km_conf_field(conf, k, 1)
                                ? *(char *const *)km_conf_field(conf, k, 1)
                                : "");
        km_conf_dump_table(conf, conf->ptable, 0, fp);
}

void km_conf_usage(const struct km_conf *conf, FILE *fp)
{
        fprintf(fp,
                "common options:\n"
                "  --config FILE       libconfig file (default $KOMEK_CONFIG)\n"
                "  --set KEY=VALUE     override any key (router.batch_size=100)\n"
                "  -X PROP=VALUE       librdkafka property\n"
                "  --dump-config       print the effective configuration\n"
                "  --help              this text\n");
        for (int pass = 0; pass < 2; pass++) {
                const struct km_conf_key *k =
                        pass == 0 ? km_conf_common : conf->ptable;

                for (; k && k->path; k++)
                        if (k->flag)
                                fprintf(fp, "  --%-18s %s (%s)\n", k->flag,
                                        k->help ? k->help : "", k->path);
        }
}

void km_conf_destroy(struct km_conf *conf)
{
        if (conf == NULL)
                return;
        for (const struct km_conf_key *k = km_conf_common; k->path; k++)
                if (k->type == KM_CT_STR) {
                        char **f = km_conf_field(conf, k, 1);

                        free(*f);
                        *f = NULL;
                }
        for (const struct km_conf_key *k = km_conf_per_prog; k->path; k++) {
                char **f = km_conf_field(conf, k, 1);

                free(*f);
                *f = NULL;
        }
        for (const struct km_conf_key *k = conf->ptable;
             conf->pstruct && k && k->path; k++)
                if (k->type == KM_CT_STR) {
                        char **f = km_conf_field(conf, k, 0);

                        free(*f);
                        *f = NULL;
                }
        for (size_t i = 0; i < conf->nkafka; i++) {
                free(conf->kafka_keys[i]);
                free(conf->kafka_vals[i]);
        }
        free(conf->kafka_keys);
        free(conf->kafka_vals);
        for (size_t i = 0; i < conf->ncategories; i++) {
                free(conf->categories[i].code);
                free(conf->categories[i].kind);
                free(conf->categories[i].ru);
                free(conf->categories[i].en);
        }
        free(conf->categories);
        free(conf->args);
        free(conf->path);
        memset(conf, 0, sizeof(*conf));
}
