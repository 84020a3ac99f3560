/*
 * analytics_bench.c - the figures of bench/analytics.sh (not a test):
 *
 *   1. komek-analytics on the complaints of a generated year (one process,
 *      batches of analytics.batch_max) against raw COPY of the same facts,
 *      alternated in windows of AN_WINDOW_MS (1,500 ms): the subject runs
 *      (SIGCONT) for a window while the baseline waits, then the subject
 *      is stopped (SIGSTOP) and the baseline - COPY of the facts the
 *      subject wrote, in 5,000-row transactions, into a copy of the table
 *      that already holds them (ids changed) - runs for a window; AN_WINDOWS
 *      (4) of each.  Rates over all windows, their ratio, and CPU
 *      microseconds per message of each process (/proc/PID/stat: the
 *      program and its PostgreSQL backend; the COPY's backend);
 *   2. the naive writer (komek-analytics --naive: one INSERT + COMMIT per
 *      complaint) on the first NAIVE_N of the same messages;
 *   3. komek-tasksink on the dispatch messages of the year, against raw
 *      COPY of the same task rows into a copy of tasks, alternated as in 1;
 *   4. komek-analytics on all four topics of the year (complaints,
 *      dispatch, task-events, votes), one process and two in one group;
 *   5. komek-report for the last week of that year: text and html.
 * The messages of 1 and 3 are the year's, repeated AN_REPLICAS (5) times
 * with other ids, so every window has work.
 *
 * usage: analytics_bench GEN_DIR NAIVE_N WEEK
 * AN_SECTIONS (e.g. "13"): only those of the measurements above.
 * Environment as for the tests (KOMEK_BIN, KOMEK_ROOT, KOMEK_CONFIG,
 * .run/kafka.env, .run/pg.env).  Each measurement has its own topics and schema.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tests/analytics/fx.h"
#include "km_id.h"
#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

static const int parts[FX_NTOPICS] = {6, 6, 3, 3, 1, 1};

static long bench_rows(struct fx_env *env)
{
        PGresult *res = PQexec(env->conn, "SELECT count(*) FROM an_complaints");
        long n = PQresultStatus(res) == PGRES_TUPLES_OK
                         ? atol(PQgetvalue(res, 0, 0))
                         : -1;

        PQclear(res);
        return n;
}

static void bench_pause(void)
{
        struct timespec ts = {0, 2000000L}; /* polling against a deadline */

        nanosleep(&ts, NULL);
}

/* Run analytics over what env's topics hold.  Steady state: from the
 * first stored batch to caught up; for the naive writer (whose offsets are
 * stored once, at the end of its batch) from its first row to its last.
 * @returns messages (naive: complaints) per second. */
static double bench_run(struct fx_env *env, const char *extra, int naive,
                        int nproc, long *msgs, double *secs)
{
        char group[128], set[200];
        const char *lvl = getenv("AN_LOG") ? getenv("AN_LOG") : "warn";
        const char *args[] = {"--set", set, "--log-level", lvl, extra, NULL};
        long want = 0, first = 0;
        int64_t t0, t1, deadline = km_now_ms() + 900000;
        int pid, more[4] = {0, 0, 0, 0};

        for (int t = FX_CPL; t <= FX_VOT; t++)
                want += fx_topic_total(env, t);
        km_test_name(group, sizeof(group), "bench");
        snprintf(set, sizeof(set), "analytics.group=%s", group);
        pid = fx_spawn(env, "analytics", args, ".run/bench-analytics.log");
        for (int i = 1; i < nproc && i < 4; i++)
                more[i] = fx_spawn(env, "analytics", args,
                                   ".run/bench-analytics.log");
        while ((first = naive ? bench_rows(env)
                              : fx_stored_total(env, group)) <= 0 &&
               km_now_ms() < deadline) {
                int st;

                if (pid < 0 || waitpid(pid, &st, WNOHANG) == pid) {
                        fprintf(stderr,
                                "komek-analytics did not start or "
                                "exited; see .run/bench-analytics.log\n");
                        return -1;
                }
                bench_pause();
        }
        t0 = km_now_ms();
        if (fx_caught_up(env, group, 300000)) {
                km_test_wait(pid, SIGTERM, 20000);
                for (int i = 1; i < 4; i++)
                        if (more[i] > 0)
                                km_test_wait(more[i], SIGTERM, 20000);
                return -1;
        }
        t1 = km_now_ms();
        if (naive) { /* the last row was written before the offsets */
                long last = bench_rows(env);

                *msgs = last - first;
        } else {
                *msgs = want - first;
        }
        km_test_wait(pid, SIGTERM, 20000);
        for (int i = 1; i < 4; i++)
                if (more[i] > 0)
                        km_test_wait(more[i], SIGTERM, 20000);
        *secs = (double)(t1 - t0) / 1000.0;
        return *secs > 0 ? (double)*msgs / *secs : 0;
}

/* --- subject and baseline, alternated ------------------------------ */

/* CPU time (user + system) of a process in µs, -1 when unknown. */
static long long bench_cpu_us(int pid)
{
        char path[64], buf[1024], *p;
        long long ut = 0, st = 0;
        FILE *fp;
        size_t n;

        if (pid <= 0)
                return -1;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        fp = fopen(path, "r");
        if (fp == NULL)
                return -1;
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the name may hold spaces */
        if (p == NULL ||
            sscanf(p + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &ut,
                   &st) != 2)
                return -1;
        return (ut + st) * 1000000LL / sysconf(_SC_CLK_TCK);
}

/* The PostgreSQL backend of the newest session whose application_name
 * starts with app, 0 when none. */
static int bench_backend(struct fx_env *env, const char *app)
{
        const char *p[1] = {app};
        PGresult *res = NULL;
        char err[512];
        int pid = 0;

        if (km_pg_exec(env->conn,
                       "SELECT pid FROM pg_stat_activity WHERE "
                       "starts_with(application_name, $1) "
                       "ORDER BY backend_start DESC LIMIT 1",
                       1, p, &res, err, sizeof(err)) == 0) {
                if (PQntuples(res) == 1)
                        pid = atoi(PQgetvalue(res, 0, 0));
                PQclear(res);
        }
        return pid;
}

/* The baseline: COPY of rows taken from the subject's table, in
 * 5,000-row transactions, each pass over them with other ids (the uuid
 * that starts a line gets the pass number as its last 8 digits). */
struct bench_base {
        char *buf; /* the rows, COPY text */
        size_t len;
        size_t *line; /* each row's start */
        size_t nlines;
        size_t next; /* the next row to copy */
        long pass;
        const char *copy_sql;
};

static int bench_base_init(struct bench_base *bb, struct fx_env *env,
                           const char *out_sql, const char *ddl,
                           const char *copy_sql)
{
        PGresult *res;
        char *line;
        int n;

        memset(bb, 0, sizeof(*bb));
        bb->copy_sql = copy_sql;
        res = PQexec(env->conn, out_sql);
        PQclear(res);
        while ((n = PQgetCopyData(env->conn, &line, 0)) > 0) {
                bb->buf = km_xrealloc(bb->buf, bb->len + (size_t)n);
                memcpy(bb->buf + bb->len, line, (size_t)n);
                bb->len += (size_t)n;
                PQfreemem(line);
        }
        while ((res = PQgetResult(env->conn)) != NULL)
                PQclear(res);
        for (size_t i = 0; i < bb->len; i++)
                if (i == 0 || bb->buf[i - 1] == '\n') {
                        bb->line = km_xrealloc(
                                bb->line, (bb->nlines + 1) * sizeof(*bb->line));
                        bb->line[bb->nlines++] = i;
                }
        res = PQexec(env->conn, ddl);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                fprintf(stderr, "baseline: %s", PQerrorMessage(env->conn));
                PQclear(res);
                return -1;
        }
        PQclear(res);
        return bb->nlines >= 1 ? 0 : -1;
}

/* One transaction of up to 5,000 rows.  @returns the rows or -1. */
static long bench_base_chunk(struct bench_base *bb, PGconn *conn)
{
        size_t from = bb->next, to = from + 5000;
        PGresult *res;
        long rows;
        int bad = 0;

        if (to > bb->nlines)
                to = bb->nlines;
        for (size_t i = from; i < to; i++) { /* the pass's ids */
                char pass[16];

                /* the last 8 digits: the replicas differ in the first two */
                snprintf(pass, sizeof(pass), "%08lx", (unsigned long)bb->pass);
                memcpy(bb->buf + bb->line[i] + 28, pass, 8);
        }
        res = PQexec(conn, "BEGIN");
        PQclear(res);
        res = PQexec(conn, bb->copy_sql);
        bad = PQresultStatus(res) != PGRES_COPY_IN;
        PQclear(res);
        if (!bad) {
                size_t a = bb->line[from];
                size_t b = to < bb->nlines ? bb->line[to] : bb->len;

                PQputCopyData(conn, bb->buf + a, (int)(b - a));
                PQputCopyEnd(conn, NULL);
                while ((res = PQgetResult(conn)) != NULL) {
                        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                                fprintf(stderr, "baseline copy: %s",
                                        PQresultErrorMessage(res));
                                bad = 1;
                        }
                        PQclear(res);
                }
        }
        res = PQexec(conn, bad ? "ROLLBACK" : "COMMIT");
        PQclear(res);
        rows = (long)(to - from);
        bb->next = to;
        if (bb->next == bb->nlines) {
                bb->next = 0;
                bb->pass++;
        }
        return bad ? -1 : rows;
}

static void bench_base_free(struct bench_base *bb)
{
        free(bb->buf);
        free(bb->line);
}

struct bench_side {
        long n;
        double secs;
        long long cpu[2]; /* µs: the process, its backend */
};

static void bench_sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

        nanosleep(&ts, NULL); /* a window's pace, not a wait for a result */
}

/*
 * The subject (pid, its backend bpid; progress = the group's stored
 * offsets, `want` in all) and the baseline, alternated: baseline window,
 * subject window, ...; nwin of each or until the subject is done.  The
 * subject is stopped on return.
 */
static void bench_alternate(struct fx_env *env, const char *group, int pid,
                            int bpid, long want, struct bench_base *bb,
                            int nwin, int win_ms, struct bench_side *subj,
                            struct bench_side *base)
{
        int mybackend = PQbackendPID(env->conn);

        memset(subj, 0, sizeof(*subj));
        memset(base, 0, sizeof(*base));
        kill(pid, SIGSTOP);
        for (int w = 0; w < nwin; w++) {
                long long c0 = bench_cpu_us(mybackend), p0, q0;
                int64_t t0 = km_now_ms(), t1;
                long s0, s1;

                /* baseline window */
                while (km_now_ms() - t0 < win_ms) {
                        long r = bench_base_chunk(bb, env->conn);

                        if (r < 0)
                                break;
                        base->n += r;
                }
                base->secs += (double)(km_now_ms() - t0) / 1000.0;
                base->cpu[1] += bench_cpu_us(mybackend) - c0;
                /* subject window */
                s0 = fx_stored_total(env, group);
                p0 = bench_cpu_us(pid);
                q0 = bench_cpu_us(bpid);
                t0 = km_now_ms();
                kill(pid, SIGCONT);
                while ((t1 = km_now_ms()) - t0 < win_ms &&
                       fx_stored_total(env, group) < want)
                        bench_sleep_ms(10);
                kill(pid, SIGSTOP);
                s1 = fx_stored_total(env, group);
                subj->n += s1 - s0;
                subj->secs += (double)(t1 - t0) / 1000.0;
                subj->cpu[0] += bench_cpu_us(pid) - p0;
                subj->cpu[1] += bench_cpu_us(bpid) - q0;
                printf("  window %d: subject %ld in %.2f s, baseline so far "
                       "%ld rows in %.2f s\n",
                       w + 1, s1 - s0, (double)(t1 - t0) / 1000.0, base->n,
                       base->secs);
                if (s1 >= want)
                        break;
        }
}

/* Replica r of a complaint that has an external_id: "#r" appended to it
 * and the id derived again, so the model (and komek-analytics, which
 * judges by it) accepts the copy as the router would.  @returns 1 when
 * added to out, 0 (no external_id: the caller changes the id). */
static int bench_replica_cpl(const char *payload, int r, struct fx_data *out,
                             const char *key)
{
        json_t *o = json_loads(payload, 0, NULL);
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *ext = json_string_value(json_object_get(o, "external_id"));
        char next[200], nid[KM_ID_LEN], *text;

        if (src == NULL || ext == NULL) {
                json_decref(o);
                return 0;
        }
        snprintf(next, sizeof(next), "%.120s#%d", ext, r);
        km_id_derive(src, next, nid);
        json_object_set_new(o, "external_id", json_string(next));
        json_object_set_new(o, "id", json_string(nid));
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fx_add_msg(out, FX_CPL, key, text);
        free(text);
        json_decref(o);
        return 1;
}

/* Messages of one topic, AN_REPLICAS times, each copy with its own ids:
 * the value of `field` (a uuid) changes its first two digits in every
 * place it appears. */
static void bench_replicate(const struct fx_data *d, int topic,
                            const char *field, int replicas,
                            struct fx_data *out)
{
        char pat[64];

        memset(out, 0, sizeof(*out));
        snprintf(pat, sizeof(pat), "\"%s\":\"", field);
        for (int r = 0; r < replicas; r++)
                for (size_t i = 0; i < d->nm; i++) {
                        const struct fx_msg *m = &d->m[i];
                        char *p, *q, id[40], nid[40];

                        if (m->topic != topic)
                                continue;
                        p = strstr(m->payload, pat);
                        if (r == 0 || p == NULL ||
                            strlen(p) < strlen(pat) + 36) {
                                fx_add_msg(out, topic, m->key, m->payload);
                                continue;
                        }
                        memcpy(id, p + strlen(pat), 36);
                        id[36] = '\0';
                        snprintf(nid, sizeof(nid), "%02x%s", r, id + 2);
                        if (topic == FX_CPL &&
                            bench_replica_cpl(m->payload, r, out, m->key))
                                continue;
                        fx_add_msg(out, topic, m->key, m->payload);
                        q = out->m[out->nm - 1].payload;
                        while ((q = strstr(q, id)) != NULL) {
                                memcpy(q, nid, 36);
                                q += 36;
                        }
                }
}

static void bench_data_free(struct fx_data *d)
{
        for (size_t i = 0; i < d->nm; i++) {
                free(d->m[i].key);
                free(d->m[i].payload);
        }
        free(d->m);
}

/* Start prog on env (group as given), wait until it has stored `warm`
 * messages, then alternate with the baseline.  @returns 0 or -1. */
static int bench_versus(struct fx_env *env, const char *prog,
                        const char *group_key, const char *app_prefix,
                        long want, long warm, const char *out_sql,
                        const char *ddl, const char *copy_sql,
                        struct bench_side *subj, struct bench_side *base)
{
        char group[128], set[200], app[200];
        const char *lvl = getenv("AN_LOG") ? getenv("AN_LOG") : "warn";
        const char *args[] = {"--set", set, "--log-level", lvl, NULL};
        const char *w = getenv("AN_WINDOW_MS"), *nw = getenv("AN_WINDOWS");
        int64_t deadline = km_now_ms() + 300000;
        struct bench_base bb;
        int pid, bpid, st;

        km_test_name(group, sizeof(group), "bench");
        snprintf(set, sizeof(set), "%s=%s", group_key, group);
        pid = fx_spawn(env, prog, args, ".run/bench-analytics.log");
        while (fx_stored_total(env, group) < warm && km_now_ms() < deadline) {
                if (pid < 0 || waitpid(pid, &st, WNOHANG) == pid) {
                        fprintf(stderr,
                                "komek-%s did not start or exited; "
                                "see .run/bench-analytics.log\n",
                                prog);
                        return -1;
                }
                bench_sleep_ms(5);
        }
        kill(pid, SIGSTOP);
        snprintf(app, sizeof(app), app_prefix, group);
        app[63] = '\0'; /* PostgreSQL keeps 63 bytes of application_name */
        bpid = bench_backend(env, app);
        if (bench_base_init(&bb, env, out_sql, ddl, copy_sql)) {
                kill(pid, SIGCONT);
                km_test_wait(pid, SIGTERM, 20000);
                return -1;
        }
        /* the baseline's table holds what the subject's holds */
        while (bb.pass == 0)
                if (bench_base_chunk(&bb, env->conn) < 0)
                        break;
        bench_alternate(env, group, pid, bpid, want, &bb, nw ? atoi(nw) : 4,
                        w ? atoi(w) : 1500, subj, base);
        kill(pid, SIGCONT);
        km_test_wait(pid, SIGTERM, 20000);
        bench_base_free(&bb);
        return 0;
}

static void bench_print(const char *what, const char *unit,
                        const char *base_what, const struct bench_side *s,
                        const struct bench_side *b)
{
        double rs = s->secs > 0 ? (double)s->n / s->secs : 0;
        double rb = b->secs > 0 ? (double)b->n / b->secs : 0;

        printf("%s: %ld messages in %.2f s = %.0f msg/s; CPU %.1f us/msg in "
               "the program, %.1f us/msg in its postgres backend\n",
               what, s->n, s->secs, rs, s->n ? (double)s->cpu[0] / s->n : 0,
               s->n ? (double)s->cpu[1] / s->n : 0);
        printf("%s: %ld rows in %.2f s = %.0f %s; CPU %.1f us/row in its "
               "postgres backend\n",
               base_what, b->n, b->secs, rb, unit,
               b->n ? (double)b->cpu[1] / b->n : 0);
        printf("%s / COPY = %.2fx (target >= 0.5x)\n", what,
               rb > 0 ? rs / rb : 0);
}

/* The index just past the first n complaint messages. */
static int bench_first(const struct fx_data *d, long n)
{
        long seen = 0;
        size_t i;

        for (i = 0; i < d->nm && seen < n; i++)
                seen += d->m[i].topic == FX_CPL;
        return (int)i;
}

/* Section n of the header comment wanted (AN_SECTIONS; default all). */
static int bench_section(char n)
{
        const char *s = getenv("AN_SECTIONS");

        return s == NULL || *s == '\0' || strchr(s, n) != NULL;
}

static void bench_figures(const char *key, const struct bench_side *s,
                          const struct bench_side *b)
{
        /* machine-readable, for bench/run.sh */
        if (s->n > 0) {
                printf("bench: analytics.%s_cpu_us_msg %.1f us/msg\n", key,
                       (double)s->cpu[0] / s->n);
                printf("bench: analytics.%s_pg_cpu_us_msg %.1f us/msg\n", key,
                       (double)s->cpu[1] / s->n);
        }
        if (b->n > 0)
                printf("bench: analytics.%s_copy_pg_cpu_us_row %.1f us/row\n",
                       key, (double)b->cpu[1] / b->n);
}

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct fx_data d, rep;
        struct fx_env a, b, c, s;
        struct bench_side subj, base;
        long msgs = 0, want;
        double secs = 0, r_an, r_naive, r_all;
        int64_t t;
        const char *bin = getenv("KOMEK_BIN");
        int replicas = getenv("AN_REPLICAS") ? atoi(getenv("AN_REPLICAS")) : 5;
        char batch[64];

        if (argc != 4) {
                fprintf(stderr,
                        "usage: analytics_bench GEN_DIR NAIVE_N WEEK\n");
                return 2;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        memset(&d, 0, sizeof(d));
        if (km_test_conf(&conf))
                return 1;
        t = km_now_ms();
        snprintf(d.dir, sizeof(d.dir), "%s", argv[1]);
        if (fx_load(&d, &conf, d.dir))
                return 1;
        printf("data: %zu distinct complaints, %zu messages built in %.1f s\n",
               d.nc, d.nm, (double)(km_now_ms() - t) / 1000.0);
        if (fx_env_init(&a, parts) || fx_env_init(&b, parts) ||
            fx_env_init(&c, parts) || fx_env_init(&s, parts))
                return 1;
        snprintf(batch, sizeof(batch), "--batch-max=%s",
                 getenv("AN_BATCH") ? getenv("AN_BATCH") : "5000");
        memset(&subj, 0, sizeof(subj));
        /* 1. komek-analytics vs raw COPY of the same facts, alternated */
        if (!bench_section('1'))
                goto section2;
        bench_replicate(&d, FX_CPL, "id", replicas, &rep);
        fx_publish(&a, &rep, 0, (int)rep.nm);
        bench_data_free(&rep);
        want = fx_topic_total(&a, FX_CPL);
        printf("komek-analytics vs raw COPY: %ld complaint messages (%d "
               "copies of the year), windows alternated\n",
               want, replicas);
        if (bench_versus(&a, "analytics", "analytics.group",
                         "komek-analytics/%s", want,
                         want / 10 < 20000 ? want / 10 : 20000,
                         "COPY (SELECT complaint_id, received_at, day, "
                         "category, channel, source, building_id, emergency "
                         "FROM an_complaints) TO STDOUT",
                         "CREATE TABLE raw_copy (LIKE an_complaints "
                         "INCLUDING ALL)",
                         "COPY raw_copy (complaint_id, received_at, day, "
                         "category, channel, source, building_id, emergency) "
                         "FROM STDIN",
                         &subj, &base) == 0) {
                bench_print("komek-analytics, complaints", "rows/s",
                            "raw COPY of the same facts", &subj, &base);
                bench_figures("complaints", &subj, &base);
        }
section2:
        r_an = subj.secs > 0 ? (double)subj.n / subj.secs : 0;
        /* 2. the naive writer */
        if (!bench_section('2'))
                goto section3;
        fx_publish_mask(&b, &d, 0, bench_first(&d, atol(argv[2])),
                        1u << FX_CPL);
        r_naive = bench_run(&b, "--naive", 1, 1, &msgs, &secs);
        printf("naive writer (INSERT + COMMIT per message): %ld messages in "
               "%.2f s = %.0f msg/s\n",
               msgs, secs, r_naive);
        printf("analytics / naive = %.1fx (target >= 20x)\n",
               r_naive > 0 ? r_an / r_naive : 0);
section3:
        /* 3. komek-tasksink vs raw COPY of the same task rows, alternated */
        if (!bench_section('3'))
                goto section4;
        bench_replicate(&d, FX_DSP, "complaint_id", replicas, &rep);
        fx_publish(&s, &rep, 0, (int)rep.nm);
        bench_data_free(&rep);
        want = fx_topic_total(&s, FX_DSP);
        printf("komek-tasksink vs raw COPY: %ld dispatch messages (%d copies "
               "of the year), windows alternated\n",
               want, replicas);
        if (bench_versus(&s, "tasksink", "tasksink.group", "komek-tasksink",
                         want, want / 10 < 10000 ? want / 10 : 10000,
                         "COPY (SELECT * FROM tasks) TO STDOUT",
                         "CREATE TABLE raw_tasks (LIKE tasks INCLUDING ALL)",
                         "COPY raw_tasks FROM STDIN", &subj, &base) == 0) {
                bench_print("komek-tasksink", "rows/s",
                            "raw COPY of the same task rows", &subj, &base);
                bench_figures("sink", &subj, &base);
        }
section4:
        /* 4. all four topics (5 reports on them) */
        if (!bench_section('4'))
                goto done;
        fx_load_directory(&c, &d);
        fx_publish(&c, &d, 0, (int)d.nm);
        r_all = bench_run(&c, batch, 0, 1, &msgs, &secs);
        printf("komek-analytics, all four topics: %ld messages in %.2f s = "
               "%.0f msg/s\n",
               msgs, secs, r_all);
        {
                struct fx_env e2;

                if (fx_env_init(&e2, parts) == 0) {
                        fx_load_directory(&e2, &d);
                        fx_publish(&e2, &d, 0, (int)d.nm);
                        r_all = bench_run(&e2, batch, 0, 2, &msgs, &secs);
                        printf("komek-analytics, all four topics, 2 processes "
                               "in one group: %ld messages in %.2f s = %.0f "
                               "msg/s\n",
                               msgs, secs, r_all);
                        fx_env_destroy(&e2);
                }
        }
        /* 5. komek-report */
        for (int f = 0; f < 2; f++) {
                const char *fmt = f ? "html" : "text";

                t = km_now_ms();
                if (fx_run("KOMEK_PG_CONNINFO=\"%s\" %s/komek-report --week %s "
                           "--format %s --out /dev/null",
                           c.conninfo, bin ? bin : "bin", argv[3], fmt))
                        printf("komek-report %s failed\n", fmt);
                printf("komek-report --format %s for %s over the year: %lld ms\n",
                       fmt, argv[3], (long long)(km_now_ms() - t));
        }
done:
        fx_env_destroy(&a);
        fx_env_destroy(&b);
        fx_env_destroy(&c);
        fx_env_destroy(&s);
        fx_data_destroy(&d);
        km_conf_destroy(&conf);
        return 0;
}
