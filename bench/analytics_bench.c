/*
 * analytics_bench.c - the figures of bench/analytics.sh (not a test):
 *
 *   1. komek-analytics on the complaints of a generated year (one process,
 *      batches of analytics.batch_max), steady-state messages per second;
 *   2. the naive writer (komek-analytics --naive: one INSERT + COMMIT per
 *      complaint) on the first NAIVE_N of the same messages;
 *   3. raw COPY of the same facts (the rows of 1) into an empty copy of
 *      an_complaints, rows per second;
 *   4. komek-analytics on all four topics of the year (complaints,
 *      dispatch, task-events, votes), one process and two in one group;
 *   5. komek-report for the last week of that year: text and html.
 *
 * usage: analytics_bench GEN_DIR NAIVE_N WEEK
 * Environment as for the tests (KOMEK_BIN, KOMEK_ROOT, KOMEK_CONFIG,
 * .run/kafka.env, .run/pg.env).  Each measurement has its own topics and schema.
 */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "../tests/analytics/fx.h"
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
        while ((first = naive ? bench_rows(env) : fx_stored_total(env, group)) <= 0 &&
               km_now_ms() < deadline) {
                int st;

                if (pid < 0 || waitpid(pid, &st, WNOHANG) == pid) {
                        fprintf(stderr, "komek-analytics did not start or "
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

/* COPY the facts of `from` into an empty copy of an_complaints in `to`. */
static double bench_copy(struct fx_env *from, struct fx_env *to, long *rows)
{
        PGresult *res;
        char *buf = NULL, *line;
        size_t len = 0;
        int n;
        int64_t t0, t1;

        res = PQexec(from->conn, "COPY (SELECT complaint_id, received_at, day,"
                                 " category, channel, source, building_id,"
                                 " emergency FROM an_complaints) TO STDOUT");
        PQclear(res);
        while ((n = PQgetCopyData(from->conn, &line, 0)) > 0) {
                buf = km_xrealloc(buf, len + (size_t)n);
                memcpy(buf + len, line, (size_t)n);
                len += (size_t)n;
                PQfreemem(line);
        }
        while ((res = PQgetResult(from->conn)) != NULL)
                PQclear(res);
        *rows = 0;
        for (size_t i = 0; i < len; i++)
                *rows += buf[i] == '\n';
        res = PQexec(to->conn, "CREATE TABLE raw_copy (LIKE an_complaints "
                               "INCLUDING ALL)");
        PQclear(res);
        t0 = km_now_ms();
        res = PQexec(to->conn, "COPY raw_copy (complaint_id, received_at, day,"
                               " category, channel, source, building_id,"
                               " emergency) FROM STDIN");
        PQclear(res);
        for (size_t off = 0; off < len; off += 65536)
                PQputCopyData(to->conn, buf + off,
                              (int)(len - off < 65536 ? len - off : 65536));
        PQputCopyEnd(to->conn, NULL);
        while ((res = PQgetResult(to->conn)) != NULL) {
                if (PQresultStatus(res) != PGRES_COMMAND_OK)
                        fprintf(stderr, "copy: %s", PQresultErrorMessage(res));
                PQclear(res);
        }
        t1 = km_now_ms();
        free(buf);
        return (double)*rows / ((double)(t1 - t0) / 1000.0);
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

int main(int argc, char **argv)
{
        struct km_conf conf;
        struct fx_data d;
        struct fx_env a, b, c;
        long msgs = 0, rows = 0;
        double secs = 0, r_an, r_naive, r_copy, r_all;
        int64_t t;
        const char *bin = getenv("KOMEK_BIN");
        char batch[64];

        if (argc != 4) {
                fprintf(stderr, "usage: analytics_bench GEN_DIR NAIVE_N WEEK\n");
                return 2;
        }
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
            fx_env_init(&c, parts))
                return 1;
        snprintf(batch, sizeof(batch), "--batch-max=%s",
                 getenv("AN_BATCH") ? getenv("AN_BATCH") : "5000");
        fx_publish_mask(&a, &d, 0, (int)d.nm, 1u << FX_CPL);
        r_an = bench_run(&a, batch, 0, 1, &msgs, &secs);
        printf("komek-analytics, complaints: %ld messages in %.2f s = %.0f msg/s\n",
               msgs, secs, r_an);
        fx_publish_mask(&b, &d, 0, bench_first(&d, atol(argv[2])), 1u << FX_CPL);
        r_naive = bench_run(&b, "--naive", 1, 1, &msgs, &secs);
        printf("naive writer (INSERT + COMMIT per message): %ld messages in "
               "%.2f s = %.0f msg/s\n", msgs, secs, r_naive);
        r_copy = bench_copy(&a, &b, &rows);
        printf("raw COPY of the same facts: %ld rows = %.0f rows/s\n", rows,
               r_copy);
        printf("analytics / naive = %.1fx (target >= 20x); analytics / COPY = "
               "%.2fx (target >= 0.5x)\n",
               r_naive > 0 ? r_an / r_naive : 0, r_copy > 0 ? r_an / r_copy : 0);
        fx_load_directory(&c, &d);
        fx_publish(&c, &d, 0, (int)d.nm);
        r_all = bench_run(&c, batch, 0, 1, &msgs, &secs);
        printf("komek-analytics, all four topics: %ld messages in %.2f s = "
               "%.0f msg/s\n", msgs, secs, r_all);
        {
                struct fx_env e2;

                if (fx_env_init(&e2, parts) == 0) {
                        fx_load_directory(&e2, &d);
                        fx_publish(&e2, &d, 0, (int)d.nm);
                        r_all = bench_run(&e2, batch, 0, 2, &msgs, &secs);
                        printf("komek-analytics, all four topics, 2 processes "
                               "in one group: %ld messages in %.2f s = %.0f "
                               "msg/s\n", msgs, secs, r_all);
                        fx_env_destroy(&e2);
                }
        }
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
        fx_env_destroy(&a);
        fx_env_destroy(&b);
        fx_env_destroy(&c);
        fx_data_destroy(&d);
        km_conf_destroy(&conf);
        return 0;
}
