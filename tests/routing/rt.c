/*
 * rt.c - see rt.h.
 */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "km_complaint.h"
#include "km_kafka.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

int rt_setup(struct rt *t, const char *what)
{
        char err[512], name[64];
        const char *root = getenv("KOMEK_ROOT");

        memset(t, 0, sizeof(*t));
        if (km_test_conf(&t->conf))
                return -1;
        if (km_test_pg_schema(&t->conf, t->schema, sizeof(t->schema),
                              t->conninfo, sizeof(t->conninfo)))
                return -1;
        snprintf(t->env_pg, sizeof(t->env_pg), "KOMEK_PG_CONNINFO=%s",
                 t->conninfo);
        snprintf(name, sizeof(name), "%s-cpl", what);
        if (km_test_topic(&t->conf, t->complaints, sizeof(t->complaints), name,
                          6))
                return -1;
        snprintf(name, sizeof(name), "%s-dsp", what);
        if (km_test_topic(&t->conf, t->dispatch, sizeof(t->dispatch), name, 6))
                return -1;
        snprintf(name, sizeof(name), "%s-dlq", what);
        if (km_test_topic(&t->conf, t->dlq, sizeof(t->dlq), name, 1))
                return -1;
        snprintf(name, sizeof(name), "%s-evt", what);
        if (km_test_topic(&t->conf, t->events, sizeof(t->events), name, 3))
                return -1;
        snprintf(t->logdir, sizeof(t->logdir), "%s/.run/test-logs/%s",
                 root ? root : ".", t->schema);
        mkdir(t->logdir, 0755);
        snprintf(t->datadir, sizeof(t->datadir), "%s/data", t->logdir);
        t->conn = km_pg_connect(t->conninfo, "komek-test", 30, err,
                                sizeof(err));
        if (t->conn == NULL) {
                fprintf(stderr, "connect: %s\n", err);
                return -1;
        }
        return 0;
}

void rt_teardown(struct rt *t)
{
        char *cmd;

        if (t->conn)
                PQfinish(t->conn);
        if (t->schema[0])
                km_test_pg_schema_drop(&t->conf, t->schema);
        if (t->datadir[0]) { /* test-made path under .run/test-logs */
                cmd = km_xasprintf("rm -rf '%s'", t->datadir);
                if (system(cmd) != 0)
                        fprintf(stderr, "could not remove %s\n", t->datadir);
                free(cmd);
        }
        km_conf_destroy(&t->conf);
}

int rt_gen(struct rt *t, const char *args)
{
        const char *bin = getenv("KOMEK_BIN");
        char *cmd = km_xasprintf("%s/komek-gen --out '%s' %s 2>'%s/gen.log'",
                                 bin ? bin : "bin", t->datadir, args,
                                 t->logdir);
        int st = system(cmd);

        free(cmd);
        if (st != 0)
                fprintf(stderr, "komek-gen failed (%d)\n", st);
        return st == 0 ? 0 : -1;
}

/* argv for a komek program with the test's topics; extra appended. */
static char **rt_argv(struct rt *t, const char *prog, const char *const *extra)
{
        const char *bin = getenv("KOMEK_BIN");
        size_t n = 0, cap = 16;
        char **argv;

        for (const char *const *e = extra; e && *e; e++)
                cap++;
        argv = km_xcalloc(cap, sizeof(char *));
        argv[n++] = km_xasprintf("%s/komek-%s", bin ? bin : "bin", prog);
        argv[n++] = km_xasprintf("--set");
        argv[n++] = km_xasprintf("topics.complaints=%s", t->complaints);
        argv[n++] = km_xasprintf("--set");
        argv[n++] = km_xasprintf("topics.dispatch=%s", t->dispatch);
        argv[n++] = km_xasprintf("--set");
        argv[n++] = km_xasprintf("topics.dlq=%s", t->dlq);
        argv[n++] = km_xasprintf("--set");
        argv[n++] = km_xasprintf("topics.task_events=%s", t->events);
        for (const char *const *e = extra; e && *e; e++)
                argv[n++] = km_xstrdup(*e);
        argv[n] = NULL;
        return argv;
}

static void rt_argv_free(char **argv)
{
        for (char **a = argv; *a; a++)
                free(*a);
        free(argv);
}

int rt_spawn(struct rt *t, const char *prog, const char *const *extra,
             char *log, size_t loglen)
{
        static int n;
        char **argv = rt_argv(t, prog, extra), path[512];
        char *env[2] = {t->env_pg, NULL};
        int pid;

        snprintf(path, sizeof(path), "%s/%s-%d.log", t->logdir, prog, n++);
        if (log)
                snprintf(log, loglen, "%s", path);
        pid = km_test_spawn(argv, env, path);
        rt_argv_free(argv);
        return pid;
}

int rt_run(struct rt *t, const char *prog, const char *const *args,
           char **out)
{
        char **argv = rt_argv(t, prog, args), log[512];
        int fds[2], st = -1;
        pid_t pid;
        size_t len = 0, cap = 4096;
        char *buf = km_xmalloc(cap);

        snprintf(log, sizeof(log), "%s/%s-run.log", t->logdir, prog);
        if (pipe(fds) != 0)
                goto out;
        pid = fork();
        if (pid == 0) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

                dup2(fds[1], 1);
                if (fd >= 0)
                        dup2(fd, 2);
                close(fds[0]);
                putenv(t->env_pg);
                execv(argv[0], argv);
                _exit(127);
        }
        close(fds[1]);
        for (;;) {
                ssize_t r;

                if (len + 1024 > cap)
                        buf = km_xrealloc(buf, cap *= 2);
                r = read(fds[0], buf + len, cap - len - 1);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                len += (size_t)r;
        }
        close(fds[0]);
        if (pid > 0 && waitpid(pid, &st, 0) == pid)
                st = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
out:
        buf[len] = '\0';
        if (out)
                *out = buf;
        else
                free(buf);
        rt_argv_free(argv);
        return st;
}

int rt_import(struct rt *t, const char *dir)
{
        const char *args[] = {"--prune", "import", dir ? dir : t->datadir,
                              NULL};
        int st = rt_run(t, "directory", args, NULL);

        if (st != 0)
                fprintf(stderr, "komek-directory import: exit %d\n", st);
        return st == 0 ? 0 : -1;
}

int rt_produce_raw(struct rt *t, const char *topic, const char *key,
                   const char *buf, size_t len)
{
        struct km_kafka_counts counts = {0};
        char err[512];
        rd_kafka_t *rk = km_kafka_producer_new(&t->conf, NULL, &counts, err,
                                               sizeof(err));
        int r;

        if (rk == NULL)
                return -1;
        r = km_kafka_produce(rk, topic, RD_KAFKA_PARTITION_UA, key, buf, len,
                             &counts, 10000, err, sizeof(err));
        if (r == 0)
                r = km_kafka_flush(rk, 30000, err, sizeof(err));
        rd_kafka_destroy(rk);
        return r == 0 && counts.delivered == 1 ? 0 : -1;
}

static int rt_strcmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

int rt_publish(struct rt *t, int *unique)
{
        return rt_publish_range(t, 0, -1, unique);
}

int rt_publish_range(struct rt *t, int skip, int max, int *unique)
{
        struct km_kafka_counts counts = {0};
        char err[512], reason[KM_REASON_LEN], *line = NULL, path[512];
        size_t cap = 0, nids = 0, idcap = 1024;
        char **ids = km_xcalloc(idcap, sizeof(char *));
        ssize_t len;
        FILE *fp;
        rd_kafka_t *rk;
        int n = 0, valid = 0;

        snprintf(path, sizeof(path), "%s/complaints.jsonl", t->datadir);
        fp = fopen(path, "r");
        rk = km_kafka_producer_new(&t->conf, NULL, &counts, err, sizeof(err));
        if (fp == NULL || rk == NULL) {
                fprintf(stderr, "publish: %s\n", fp ? err : path);
                n = -1;
                goto out;
        }
        while ((len = getline(&line, &cap, fp)) > 0) {
                struct km_complaint *c = NULL;
                char *s;

                if (line[len - 1] == '\n')
                        line[--len] = '\0';
                if (km_complaint_parse(line, (size_t)len, &t->conf,
                                       KM_CPL_INTAKE, km_wall_s(), &c, reason,
                                       err, sizeof(err)))
                        continue;
                valid++;
                if (nids == idcap)
                        ids = km_xrealloc(ids, (idcap *= 2) * sizeof(char *));
                ids[nids++] = km_xstrdup(c->id);
                if (valid <= skip || (max >= 0 && valid > skip + max)) {
                        km_complaint_destroy(c);
                        continue;
                }
                s = km_complaint_dumps(c, 0);
                if (km_kafka_produce(rk, t->complaints, RD_KAFKA_PARTITION_UA,
                                     c->building_id ? c->building_id : c->id,
                                     s, strlen(s), &counts, 30000, err,
                                     sizeof(err))) {
                        fprintf(stderr, "publish: %s\n", err);
                        n = -1;
                }
                free(s);
                km_complaint_destroy(c);
                if (n >= 0)
                        n++;
        }
        if (km_kafka_flush(rk, 60000, err, sizeof(err)) ||
            counts.delivered != n) {
                fprintf(stderr, "publish: %lld of %d delivered\n",
                        (long long)counts.delivered, n);
                n = -1;
        }
        if (unique) {
                qsort(ids, nids, sizeof(char *), rt_strcmp);
                *unique = 0;
                for (size_t i = 0; i < nids; i++)
                        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
                                (*unique)++;
        }
out:
        for (size_t i = 0; i < nids; i++)
                free(ids[i]);
        free(ids);
        free(line);
        if (fp)
                fclose(fp);
        if (rk)
                rd_kafka_destroy(rk);
        return n;
}

long rt_count(struct rt *t, const char *sql)
{
        PGresult *res = NULL;
        char err[512];
        long v = -1;

        if (km_pg_exec(t->conn, sql, 0, NULL, &res, err, sizeof(err))) {
                fprintf(stderr, "%s: %s\n", sql, err);
                return -1;
        }
        if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
                v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
        return v;
}

long rt_wait_count(struct rt *t, const char *sql, long want, int deadline_ms)
{
        int64_t deadline = km_now_ms() + deadline_ms;
        long v;

        for (;;) {
                v = rt_count(t, sql);
                if (v == want || km_now_ms() >= deadline)
                        return v;
                /* polling the database against the deadline */
                {
                        struct timespec ts = {0, 100 * 1000000L};

                        nanosleep(&ts, NULL);
                }
        }
}

long rt_log_number(const char *log, const char *key)
{
        FILE *fp = fopen(log, "r");
        char line[2048];
        long v = -1;

        if (fp == NULL)
                return -1;
        while (fgets(line, sizeof(line), fp)) {
                char *p = strstr(line, key);

                if (p)
                        v = strtol(p + strlen(key), NULL, 10);
        }
        fclose(fp);
        return v;
}
