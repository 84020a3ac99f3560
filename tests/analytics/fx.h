/*
 * fx.h - the analytics tests' fixture: a generated city (komek-gen), the
 * messages a pipeline would put on complaints, dispatch, task-events and
 * votes (built here per docs/messages.md), a schema and topics of the
 * test's own, and the analytics/escalator processes.
 *
 * The model kept in struct fx_data is the test's own account of what was
 * published, taken from the raw generated files; tests/analytics/expect.c
 * recomputes every figure from it without SQL.
 */
#ifndef FX_H
#define FX_H

#include <libpq-fe.h>
#include <stdint.h>

#include "km_conf.h"
#include "km_id.h"

enum fx_topic { FX_CPL, FX_DSP, FX_EVT, FX_VOT, FX_DLQ, FX_ESC, FX_NTOPICS };

struct fx_bld {
        char id[24], district[64], ksk[24], lift[24];
        int apartments;
};

struct fx_org {
        char id[24], kind[16], district[64], name[160];
        long apartments;
};

struct fx_task {
        char org[24], org_kind[16];
        int64_t due, ack, res, rej; /* 0: no such event */
};

struct fx_cpl {
        char id[KM_ID_LEN];
        int64_t received, day; /* day: local days since 1970-01-01 */
        char category[24], channel[16];
        int bld;   /* index into b, -1: unknown building */
        int ntask; /* 1, or 2 when attempt 1 was rejected */
        struct fx_task t[2];
};

struct fx_vote {
        char id[KM_ID_LEN], ksk[24], month[8];
        int score;
        int kept; /* the first of its vote_id */
};

struct fx_msg {
        int topic;
        char *key, *payload;
};

struct fx_data {
        struct km_conf *conf;
        char dir[256];
        int own_dir; /* a temporary directory, removed at the end */
        struct fx_bld *b;
        size_t nb;
        struct fx_org *o;
        size_t no;
        struct fx_cpl *c;
        size_t nc;
        struct fx_vote *v;
        size_t nv;
        struct fx_msg *m;
        size_t nm, capm;
        int bad; /* garbage messages published (expected dead letters) */
        int offset_hours;
};

struct fx_env {
        struct km_conf conf;
        char schema[128], conninfo[1024];
        char topics[FX_NTOPICS][160];
        PGconn *conn;
};

/* fx.c */
int fx_env_init(struct fx_env *env, const int partitions[FX_NTOPICS]);
void fx_env_destroy(struct fx_env *env);
int fx_generate(struct fx_data *d, struct km_conf *conf, const char *gen_args);
int fx_load(struct fx_data *d, struct km_conf *conf, const char *dir);
int fx_run(const char *cmd_fmt, ...) __attribute__((format(printf, 1, 2)));
void fx_data_destroy(struct fx_data *d);
int fx_load_directory(struct fx_env *env, const struct fx_data *d);
int fx_publish(struct fx_env *env, const struct fx_data *d, int from, int to);
/* only the topics whose bit (1 << enum fx_topic) is set */
int fx_publish_mask(struct fx_env *env, const struct fx_data *d, int from,
                    int to, unsigned topics);
int fx_add_msg(struct fx_data *d, int topic, const char *key,
               const char *payload);
int fx_spawn(struct fx_env *env, const char *prog, const char *const *extra,
             const char *log);
int fx_caught_up(struct fx_env *env, const char *group, int deadline_ms);
long fx_stored_total(struct fx_env *env, const char *group);
long fx_topic_total(struct fx_env *env, int topic);
int64_t fx_local_day(int64_t t, int offset_hours);
int64_t fx_week_start(int64_t day);
const struct fx_org *fx_org(const struct fx_data *d, const char *id);

/* fx_build.c */
int fx_build(struct fx_data *d);

#endif /* FX_H */
