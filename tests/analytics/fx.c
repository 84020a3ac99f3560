/*
 * fx.c - see fx.h: schema, topics, directory, publishing, processes.
 */
#include "fx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "km_kafka.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

int64_t fx_local_day(int64_t t, int offset_hours)
{
        int64_t s = t + (int64_t)offset_hours * 3600;

        return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

int64_t fx_week_start(int64_t day)
{
        /* 1970-01-01 was a Thursday: Monday is (day + 3) % 7 == 0 */
        return day - (((day + 3) % 7) + 7) % 7;
}

const struct fx_org *fx_org(const struct fx_data *d, const char *id)
{
        for (size_t i = 0; i < d->no; i++)
                if (strcmp(d->o[i].id, id) == 0)
                        return &d->o[i];
        return NULL;
}

static int fx_schema(struct fx_env *env)
{
        char err[512];
        PGresult *r;
        char *q;
        int st;

        if (km_test_pg_schema(&env->conf, env->schema, sizeof(env->schema),
                              env->conninfo, sizeof(env->conninfo)))
                return -1;
        env->conn = km_pg_connect(km_test_pg_conninfo(&env->conf), "komek-test",
                                  30, err, sizeof(err));
        if (env->conn == NULL) {
                fprintf(stderr, "connect: %s\n", err);
                return -1;
        }
        q = km_xasprintf("SET search_path = %s", env->schema);
        r = PQexec(env->conn, q);
        free(q);
        st = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
        return st;
}

int fx_env_init(struct fx_env *env, const int partitions[FX_NTOPICS])
{
        static const char *const what[FX_NTOPICS] = {
                "an-cpl", "an-dsp", "an-evt", "an-vot", "an-dlq", "an-esc"};

        memset(env, 0, sizeof(*env));
        if (km_test_conf(&env->conf))
                return -1;
        for (int t = 0; t < FX_NTOPICS; t++)
                if (km_test_topic(&env->conf, env->topics[t],
                                  sizeof(env->topics[t]), what[t],
                                  partitions[t]))
                        return -1;
        return fx_schema(env);
}

void fx_env_destroy(struct fx_env *env)
{
        if (env->conn)
                PQfinish(env->conn);
        if (env->schema[0] && getenv("KOMEK_KEEP_SCHEMA") == NULL)
                km_test_pg_schema_drop(&env->conf, env->schema);
        km_conf_destroy(&env->conf);
}

/* Split one CSV line (RFC 4180 quoting) in place. */
static int fx_csv(char *line, char **f, int max)
{
        int n = 0;
        char *p = line, *w;

        while (n < max) {
                f[n++] = w = p;
                if (*p == '"') {
                        p++;
                        for (;;) {
                                if (*p == '"' && p[1] == '"') {
                                        *w++ = '"';
                                        p += 2;
                                } else if (*p == '"') {
                                        p++;
                                        break;
                                } else if (*p == '\0') {
                                        break;
                                } else {
                                        *w++ = *p++;
                                }
                        }
                } else {
                        while (*p && *p != ',' && *p != '\n' && *p != '\r')
                                *w++ = *p++;
                }
                if (*p != ',') {
                        *w = '\0';
                        break;
                }
                p++;
                *w = '\0';
        }
        return n;
}

static int fx_read_csv(const char *dir, const char *name, int nf,
                       void (*row)(struct fx_data *, char **),
                       struct fx_data *d)
{
        char path[512], *line = NULL;
        size_t cap = 0;
        FILE *fp;
        int first = 1;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fp = fopen(path, "r");
        if (fp == NULL)
                return -1;
        while (getline(&line, &cap, fp) > 0) {
                char *f[16];

                if (first) {
                        first = 0;
                        continue;
                }
                if (fx_csv(line, f, 16) >= nf)
                        row(d, f);
        }
        free(line);
        fclose(fp);
        return 0;
}

static void fx_org_row(struct fx_data *d, char **f)
{
        struct fx_org *o;

        d->o = km_xrealloc(d->o, (d->no + 1) * sizeof(*d->o));
        o = &d->o[d->no++];
        memset(o, 0, sizeof(*o));
        snprintf(o->id, sizeof(o->id), "%s", f[0]);
        snprintf(o->kind, sizeof(o->kind), "%s", f[1]);
        snprintf(o->district, sizeof(o->district), "%s", f[3]);
        snprintf(o->name, sizeof(o->name), "%s", f[2]);
}

static void fx_bld_row(struct fx_data *d, char **f)
{
        struct fx_bld *b;

        d->b = km_xrealloc(d->b, (d->nb + 1) * sizeof(*d->b));
        b = &d->b[d->nb++];
        memset(b, 0, sizeof(*b));
        snprintf(b->id, sizeof(b->id), "%s", f[0]);
        snprintf(b->district, sizeof(b->district), "%s", f[1]);
        b->apartments = atoi(f[4]);
        snprintf(b->ksk, sizeof(b->ksk), "%s", f[5]);
        snprintf(b->lift, sizeof(b->lift), "%s", f[6]);
}

int fx_load(struct fx_data *d, struct km_conf *conf, const char *dir)
{
        if (d->dir != dir) {
                memset(d, 0, sizeof(*d));
                snprintf(d->dir, sizeof(d->dir), "%s", dir);
        }
        d->conf = conf;
        d->offset_hours = 5;
        if (fx_read_csv(d->dir, "organisations.csv", 5, fx_org_row, d) ||
            fx_read_csv(d->dir, "buildings.csv", 7, fx_bld_row, d))
                return -1;
        for (size_t i = 1; i < d->nb; i++)
                if (strcmp(d->b[i - 1].id, d->b[i].id) >= 0) {
                        fprintf(stderr, "buildings.csv is not sorted by id\n");
                        return -1;
                }
        for (size_t i = 0; i < d->nb; i++) {
                struct fx_org *o = (struct fx_org *)fx_org(d, d->b[i].ksk);

                if (o)
                        o->apartments += d->b[i].apartments;
                o = (struct fx_org *)fx_org(d, d->b[i].lift);
                if (o)
                        o->apartments += d->b[i].apartments;
        }
        return fx_build(d);
}

int fx_run(const char *fmt, ...)
{
        va_list ap;
        char *cmd;
        int st;

        va_start(ap, fmt);
        if (vasprintf(&cmd, fmt, ap) < 0)
                cmd = NULL;
        va_end(ap);
        if (cmd == NULL)
                return -1;
        st = system(cmd);
        free(cmd);
        return st;
}

int fx_generate(struct fx_data *d, struct km_conf *conf, const char *gen_args)
{
        const char *bin = getenv("KOMEK_BIN");
        char tmpl[] = "/tmp/komek-an-gen-XXXXXX";

        memset(d, 0, sizeof(*d));
        if (mkdtemp(tmpl) == NULL)
                return -1;
        snprintf(d->dir, sizeof(d->dir), "%s", tmpl);
        d->own_dir = 1;
        if (fx_run("%s/komek-gen --out %s %s 2>/dev/null", bin ? bin : "bin",
                   d->dir, gen_args)) {
                fprintf(stderr, "komek-gen failed (is bin/komek-gen built?)\n");
                return -1;
        }
        return fx_load(d, conf, d->dir);
}

void fx_data_destroy(struct fx_data *d)
{
        for (size_t i = 0; i < d->nm; i++) {
                free(d->m[i].key);
                free(d->m[i].payload);
        }
        free(d->m);
        free(d->b);
        free(d->o);
        free(d->c);
        free(d->v);
        if (d->own_dir && d->dir[0] && fx_run("rm -rf %s", d->dir) != 0)
                fprintf(stderr, "cannot remove %s\n", d->dir);
}

int fx_add_msg(struct fx_data *d, int topic, const char *key,
               const char *payload)
{
        if (d->nm == d->capm) {
                d->capm = d->capm ? 2 * d->capm : 4096;
                d->m = km_xrealloc(d->m, d->capm * sizeof(*d->m));
        }
        d->m[d->nm].topic = topic;
        d->m[d->nm].key = km_xstrdup(key);
        d->m[d->nm].payload = km_xstrdup(payload);
        d->nm++;
        return 0;
}

/* The directory into the routing tables (010_directory.sql), as
 * komek-directory would import it. */
int fx_load_directory(struct fx_env *env, const struct fx_data *d)
{
        char err[512];

        for (size_t i = 0; i < d->no; i++) {
                const struct fx_org *o = &d->o[i];
                const char *p[4] = {o->id, o->kind, o->name,
                                    o->district[0] ? o->district : NULL};

                if (km_pg_exec(env->conn,
                               "INSERT INTO organisations (id, kind, name, "
                               "district) VALUES ($1, $2, $3, $4) "
                               "ON CONFLICT (id) DO NOTHING",
                               4, p, NULL, err, sizeof(err))) {
                        fprintf(stderr, "organisations: %s\n", err);
                        return -1;
                }
        }
        for (size_t i = 0; i < d->nb; i++) {
                const struct fx_bld *b = &d->b[i];
                char apts[16];
                const char *p[5] = {b->id, b->district, apts,
                                    b->ksk[0] ? b->ksk : NULL,
                                    b->lift[0] ? b->lift : NULL};

                snprintf(apts, sizeof(apts), "%d", b->apartments);
                if (km_pg_exec(env->conn,
                               "INSERT INTO buildings (id, district, street, "
                               "house, apartments, ksk_id, lift_operator_id) "
                               "VALUES ($1, $2, 'x', 'x', $3, $4, $5)",
                               5, p, NULL, err, sizeof(err))) {
                        fprintf(stderr, "buildings: %s\n", err);
                        return -1;
                }
        }
        return 0;
}

/* Publish messages [from, to) of d to the env's topics. */
int fx_publish(struct fx_env *env, const struct fx_data *d, int from, int to)
{
        return fx_publish_mask(env, d, from, to, ~0u);
}

int fx_publish_mask(struct fx_env *env, const struct fx_data *d, int from,
                    int to, unsigned topics)
{
        struct km_kafka_counts counts;
        char err[512];
        rd_kafka_t *rk;
        int r = 0;

        memset(&counts, 0, sizeof(counts));
        rk = km_kafka_producer_new(&env->conf, NULL, &counts, err, sizeof(err));
        if (rk == NULL) {
                fprintf(stderr, "producer: %s\n", err);
                return -1;
        }
        for (int i = from; i < to && r == 0; i++)
                if (topics & (1u << d->m[i].topic))
                        r = km_kafka_produce(rk, env->topics[d->m[i].topic],
                                             RD_KAFKA_PARTITION_UA, d->m[i].key,
                                             d->m[i].payload,
                                             strlen(d->m[i].payload), &counts,
                                             30000, err, sizeof(err));
        if (r == 0)
                r = km_kafka_flush(rk, 30000, err, sizeof(err));
        if (r || counts.delivered != counts.produced)
                fprintf(stderr, "publish: %s (%lld of %lld delivered)\n",
                        r ? err : "", (long long)counts.delivered,
                        (long long)counts.produced);
        rd_kafka_destroy(rk);
        return r == 0 && counts.delivered == counts.produced ? 0 : -1;
}

int fx_spawn(struct fx_env *env, const char *prog, const char *const *extra,
             const char *log)
{
        const char *bin = getenv("KOMEK_BIN"), *root = getenv("KOMEK_ROOT");
        char *argv[64], *envv[2];
        int n = 0, pid;

        argv[n++] = km_xasprintf("%s/komek-%s", bin ? bin : "bin", prog);
        argv[n++] = km_xstrdup("--config");
        argv[n++] = km_xasprintf("%s/deploy/komek.conf", root ? root : ".");
        for (int t = 0; t < FX_NTOPICS; t++) {
                static const char *const key[FX_NTOPICS] = {
                        "complaints", "dispatch", "task_events",
                        "votes",      "dlq",      "escalations"};

                argv[n++] = km_xstrdup("--set");
                argv[n++] =
                        km_xasprintf("topics.%s=%s", key[t], env->topics[t]);
        }
        for (int i = 0; extra && extra[i] && n < 62; i++)
                argv[n++] = km_xstrdup(extra[i]);
        argv[n] = NULL;
        envv[0] = km_xasprintf("KOMEK_PG_CONNINFO=%s", env->conninfo);
        envv[1] = NULL;
        pid = km_test_spawn(argv, envv, log);
        for (int i = 0; i < n; i++)
                free(argv[i]);
        free(envv[0]); /* the child has its own copy */
        return pid;
}

static long fx_hw_sum(struct fx_env *env, int topic)
{
        char err[512];
        rd_kafka_conf_t *kc =
                km_kafka_conf_new(&env->conf, NULL, err, sizeof(err));
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt;
        long sum = 0;

        if (rk == NULL)
                return -1;
        rkt = rd_kafka_topic_new(rk, env->topics[topic], NULL);
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0 &&
            md->topic_cnt == 1) {
                for (int p = 0; p < md->topics[0].partition_cnt; p++) {
                        int64_t lo, hi;

                        if (rd_kafka_query_watermark_offsets(
                                    rk, env->topics[topic], p, &lo, &hi, 10000))
                                sum = -1;
                        else if (sum >= 0)
                                sum += hi;
                }
        } else {
                sum = -1;
        }
        if (md)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return sum;
}

long fx_topic_total(struct fx_env *env, int topic)
{
        return fx_hw_sum(env, topic);
}

long fx_stored_total(struct fx_env *env, const char *group)
{
        const char *p[1] = {group};
        PGresult *res = NULL;
        char err[512];
        long n = -1;

        if (km_pg_exec(env->conn,
                       "SELECT coalesce(sum(next_offset), 0) FROM "
                       "consumer_offsets WHERE consumer = $1",
                       1, p, &res, err, sizeof(err)) == 0) {
                n = atol(PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        return n;
}

/* Poll until group's stored offsets reach the four input topics' high
 * watermarks.  @returns 0 or -1 on the deadline. */
int fx_caught_up(struct fx_env *env, const char *group, int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;
        long want = 0;

        for (int t = FX_CPL; t <= FX_VOT; t++)
                want += fx_hw_sum(env, t);
        while (km_now_ms() < deadline) {
                if (fx_stored_total(env, group) == want)
                        return 0;
                /* polling the database against a deadline */
                {
                        struct timespec ts = {0, 50 * 1000000L};

                        nanosleep(&ts, NULL);
                }
        }
        fprintf(stderr, "group %s: stored %ld of %ld offsets\n", group,
                fx_stored_total(env, group), want);
        return -1;
}
