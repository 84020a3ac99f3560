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
#include <time.h>
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
        t->conn =
                km_pg_connect(t->conninfo, "komek-test", 30, err, sizeof(err));
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
        char *cmd =
                km_xasprintf("%s/komek-gen --out '%s' %s 2>'%s/gen.log'",
                             bin ? bin : "bin", t->datadir, args, t->logdir);
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

int rt_run(struct rt *t, const char *prog, const char *const *args, char **out)
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
                                     c->building_id ? c->building_id : c->id, s,
                                     strlen(s), &counts, 30000, err,
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
        if (unique && n >= 0) {
                /* the expected count is the generator's truth; the parse
                 * (the model under test) must agree with it */
                struct rt_truth tr;
                int parsed = 0;

                qsort(ids, nids, sizeof(char *), rt_strcmp);
                for (size_t i = 0; i < nids; i++)
                        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
                                parsed++;
                if (rt_truth_load(t, &tr)) {
                        n = -1;
                        goto out;
                }
                *unique = (int)tr.n;
                if (parsed != (int)tr.n || valid != (int)tr.valid) {
                        fprintf(stderr,
                                "publish: the parse found %d valid "
                                "lines, %d distinct ids; truth.csv says %zu "
                                "valid, %zu distinct\n",
                                valid, parsed, tr.valid, tr.n);
                        n = -1;
                }
                rt_truth_free(&tr);
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

/* ---- the generator's truth ------------------------------------------------ */

/* Split one CSV record (RFC 4180 quoting, no newline inside a field) in
 * place into at most max fields.  @returns the number of fields. */
static int rt_csv_split(char *line, char **f, int max)
{
        int n = 0;
        char *r = line, *w;

        for (;;) {
                if (n == max)
                        return n;
                f[n++] = w = r;
                if (*r == '"') {
                        f[n - 1] = w = ++r;
                        for (;;) {
                                if (*r == '\0')
                                        break;
                                if (*r == '"' && r[1] == '"') {
                                        *w++ = '"';
                                        r += 2;
                                } else if (*r == '"') {
                                        r++;
                                        break;
                                } else {
                                        *w++ = *r++;
                                }
                        }
                        while (*r && *r != ',')
                                r++;
                } else {
                        while (*r && *r != ',')
                                w = ++r;
                }
                if (*r == '\0') {
                        *w = '\0';
                        return n;
                }
                r++;
                *w = '\0';
        }
}

/* The index of name in header fields h, or -1. */
static int rt_csv_col(char **h, int n, const char *name)
{
        for (int i = 0; i < n; i++)
                if (strcmp(h[i], name) == 0)
                        return i;
        return -1;
}

static void rt_chomp(char *line)
{
        size_t len = strlen(line);

        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
}

struct rt_bld {
        char *id, *ksk, *lift;
};

static int rt_bld_cmp(const void *a, const void *b)
{
        return strcmp(((const struct rt_bld *)a)->id,
                      ((const struct rt_bld *)b)->id);
}

static int rt_cpl_cmp(const void *a, const void *b)
{
        return strcmp(((const struct rt_truth_cpl *)a)->key,
                      ((const struct rt_truth_cpl *)b)->key);
}

int rt_truth_load(struct rt *t, struct rt_truth *tr)
{
        char path[512], *line = NULL, *h[16], *f[16];
        size_t cap = 0, nb = 0, bcap = 1024, ccap = 1024;
        struct rt_bld *b = km_xcalloc(bcap, sizeof(*b));
        int nh, ci[7], rc = -1;
        FILE *fp;

        memset(tr, 0, sizeof(*tr));
        tr->cpl = km_xcalloc(ccap, sizeof(*tr->cpl));
        snprintf(path, sizeof(path), "%s/buildings.csv", t->datadir);
        if ((fp = fopen(path, "r")) == NULL || getline(&line, &cap, fp) <= 0)
                goto bad;
        rt_chomp(line);
        nh = rt_csv_split(line, h, 16);
        ci[0] = rt_csv_col(h, nh, "id");
        ci[1] = rt_csv_col(h, nh, "ksk_id");
        ci[2] = rt_csv_col(h, nh, "lift_operator_id");
        if (ci[0] < 0 || ci[1] < 0 || ci[2] < 0)
                goto bad;
        while (getline(&line, &cap, fp) > 0) {
                rt_chomp(line);
                if (rt_csv_split(line, f, 16) < nh)
                        goto bad;
                if (nb == bcap)
                        b = km_xrealloc(b, (bcap *= 2) * sizeof(*b));
                b[nb].id = km_xstrdup(f[ci[0]]);
                b[nb].ksk = km_xstrdup(f[ci[1]]);
                b[nb].lift = km_xstrdup(f[ci[2]]);
                nb++;
        }
        fclose(fp);
        qsort(b, nb, sizeof(*b), rt_bld_cmp);

        snprintf(path, sizeof(path), "%s/truth.csv", t->datadir);
        if ((fp = fopen(path, "r")) == NULL || getline(&line, &cap, fp) <= 0)
                goto bad;
        rt_chomp(line);
        nh = rt_csv_split(line, h, 16);
        ci[0] = rt_csv_col(h, nh, "source");
        ci[1] = rt_csv_col(h, nh, "external_id");
        ci[2] = rt_csv_col(h, nh, "valid");
        ci[3] = rt_csv_col(h, nh, "building_id");
        ci[4] = rt_csv_col(h, nh, "category");
        for (int i = 0; i < 5; i++)
                if (ci[i] < 0)
                        goto bad;
        while (getline(&line, &cap, fp) > 0) {
                struct rt_truth_cpl *c;
                const struct km_category *cat;
                struct rt_bld key, *hit;
                const char *org;

                rt_chomp(line);
                if (rt_csv_split(line, f, 16) < nh)
                        goto bad;
                tr->lines++;
                if (strcmp(f[ci[2]], "1") != 0) {
                        tr->invalid++;
                        continue;
                }
                tr->valid++;
                if (tr->n == ccap)
                        tr->cpl = km_xrealloc(tr->cpl,
                                              (ccap *= 2) * sizeof(*tr->cpl));
                c = &tr->cpl[tr->n++];
                memset(c, 0, sizeof(*c)); /* realloc'ed memory is not zeroed */
                c->key = km_xasprintf("%s\t%s", f[ci[0]], f[ci[1]]);
                c->building_id = km_xstrdup(f[ci[3]]);
                c->category = km_xstrdup(f[ci[4]]);
                c->copies = 1;
                key.id = c->building_id;
                hit = c->building_id[0]
                              ? bsearch(&key, b, nb, sizeof(*b), rt_bld_cmp)
                              : NULL;
                /* the configured kind of the category: configuration, the
                 * same table the deployment gives the router */
                cat = km_conf_category(&t->conf, c->category);
                if (cat == NULL) {
                        fprintf(stderr, "truth: unknown category %s\n",
                                c->category);
                        goto bad;
                }
                org = hit == NULL                               ? ""
                      : strcmp(cat->kind, "lift_operator") == 0 ? hit->lift
                                                                : hit->ksk;
                c->org = km_xstrdup(org[0] ? org : "triage");
        }
        fclose(fp);
        fp = NULL;
        /* one entry per distinct key; a resubmission counts its copies */
        qsort(tr->cpl, tr->n, sizeof(*tr->cpl), rt_cpl_cmp);
        {
                size_t w = 0;

                for (size_t i = 0; i < tr->n; i++) {
                        if (w > 0 &&
                            strcmp(tr->cpl[w - 1].key, tr->cpl[i].key) == 0) {
                                if (strcmp(tr->cpl[w - 1].org,
                                           tr->cpl[i].org) != 0) {
                                        fprintf(stderr,
                                                "truth: %s has two "
                                                "buildings\n",
                                                tr->cpl[i].key);
                                        goto bad;
                                }
                                tr->cpl[w - 1].copies++;
                                free(tr->cpl[i].key);
                                free(tr->cpl[i].org);
                                free(tr->cpl[i].building_id);
                                free(tr->cpl[i].category);
                                continue;
                        }
                        tr->cpl[w++] = tr->cpl[i];
                }
                tr->n = w;
        }
        for (size_t i = 0; i < tr->n; i++) {
                tr->triage += strcmp(tr->cpl[i].org, "triage") == 0;
                tr->lift += strncmp(tr->cpl[i].org, "lift-", 5) == 0;
        }
        rc = 0;
        goto out;
bad:
        fprintf(stderr, "truth: cannot read %s\n", path);
        if (fp)
                fclose(fp);
        rt_truth_free(tr);
out:
        for (size_t i = 0; i < nb; i++) {
                free(b[i].id);
                free(b[i].ksk);
                free(b[i].lift);
        }
        free(b);
        free(line);
        return rc;
}

void rt_truth_free(struct rt_truth *tr)
{
        for (size_t i = 0; i < tr->n; i++) {
                free(tr->cpl[i].key);
                free(tr->cpl[i].org);
                free(tr->cpl[i].building_id);
                free(tr->cpl[i].category);
        }
        free(tr->cpl);
        memset(tr, 0, sizeof(*tr));
}

const struct rt_truth_cpl *rt_truth_find(const struct rt_truth *tr,
                                         const char *source,
                                         const char *external_id)
{
        struct rt_truth_cpl key = {0};
        const struct rt_truth_cpl *hit;

        key.key = km_xasprintf("%s\t%s", source, external_id);
        hit = bsearch(&key, tr->cpl, tr->n, sizeof(*tr->cpl), rt_cpl_cmp);
        free(key.key);
        return hit;
}

long rt_truth_check_tasks(struct rt *t, const struct rt_truth *tr)
{
        PGresult *res = NULL;
        char err[512];
        int *seen = km_xcalloc(tr->n ? tr->n : 1, sizeof(int));
        long lost = 0, doubled = 0, extra = 0, wrong = 0, shown = 0;
        int rows;

        if (km_pg_exec(t->conn,
                       "SELECT complaint->>'source', "
                       "complaint->>'external_id', org_id FROM tasks",
                       0, NULL, &res, err, sizeof(err))) {
                fprintf(stderr, "tasks: %s\n", err);
                free(seen);
                return -1;
        }
        rows = PQntuples(res);
        for (int i = 0; i < rows; i++) {
                const char *src = PQgetvalue(res, i, 0);
                const char *ext = PQgetvalue(res, i, 1);
                const char *org = PQgetvalue(res, i, 2);
                const struct rt_truth_cpl *c = rt_truth_find(tr, src, ext);

                if (c == NULL) {
                        if (shown++ < 5)
                                printf("  task %s/%s at %s: not in the "
                                       "input\n",
                                       src, ext, org);
                        extra++;
                        continue;
                }
                if (seen[c - tr->cpl]++ == 1)
                        doubled++;
                if (strcmp(org, c->org) != 0) {
                        if (shown++ < 5)
                                printf("  task %s/%s (building %s, %s) at "
                                       "%s, want %s\n",
                                       src, ext,
                                       c->building_id[0] ? c->building_id
                                                         : "unknown",
                                       c->category, org, c->org);
                        wrong++;
                }
        }
        for (size_t i = 0; i < tr->n; i++)
                if (seen[i] == 0) {
                        if (shown++ < 5)
                                printf("  complaint %s (building %s): no "
                                       "task\n",
                                       tr->cpl[i].key, tr->cpl[i].building_id);
                        lost++;
                }
        printf("tasks: %d rows for %zu distinct valid complaints (%zu to "
               "triage, %zu to lift operators): lost %ld, doubled %ld, not "
               "in the input %ld, at the wrong organisation %ld\n",
               rows, tr->n, tr->triage, tr->lift, lost, doubled, extra, wrong);
        PQclear(res);
        free(seen);
        return lost + doubled + extra + wrong;
}

long rt_committed_to_end(struct rt *t, const char *topic, int deadline_ms)
{
        return km_test_read_to_end(&t->conf, topic, "read_committed",
                                   deadline_ms, NULL, NULL);
}

int rt_group_drained(struct rt *t, const char *group, const char *topic,
                     int deadline_ms)
{
        rd_kafka_conf_t *kc;
        rd_kafka_t *rk;
        char err[512];
        int64_t deadline = km_now_ms() + deadline_ms;
        int np, rc = -1;
        long gap = -1;

        kc = km_kafka_conf_new(&t->conf, NULL, err, sizeof(err));
        if (kc == NULL)
                return -1;
        rd_kafka_conf_set(kc, "group.id", group, NULL, 0);
        rd_kafka_conf_set(kc, "enable.auto.commit", "false", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
        if (rk == NULL)
                return -1;
        np = km_kafka_partitions(rk, topic, 10000);
        while (np > 0 && rc != 0 && km_now_ms() < deadline) {
                rd_kafka_topic_partition_list_t *parts =
                        rd_kafka_topic_partition_list_new(np);

                for (int p = 0; p < np; p++)
                        rd_kafka_topic_partition_list_add(parts, topic, p);
                gap = -1;
                if (rd_kafka_committed(rk, parts, 10000) == 0) {
                        gap = 0;
                        for (int p = 0; p < np; p++) {
                                int64_t lo = 0, hi = 0;
                                int64_t off = parts->elems[p].offset;

                                if (parts->elems[p].err ||
                                    rd_kafka_query_watermark_offsets(
                                            rk, topic, p, &lo, &hi, 10000)) {
                                        gap = -1;
                                        break;
                                }
                                gap += off < 0 ? hi - lo : hi - off;
                        }
                }
                rd_kafka_topic_partition_list_destroy(parts);
                if (gap == 0) {
                        rc = 0;
                } else {
                        struct timespec ts = {0, 200 * 1000000L};

                        nanosleep(&ts, NULL); /* polling against the deadline */
                }
        }
        if (rc)
                fprintf(stderr,
                        "group %s on %s: %ld messages not committed "
                        "(-1: unknown)\n",
                        group, topic, gap);
        rd_kafka_destroy(rk);
        return rc;
}
