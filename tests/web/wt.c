/*
 * wt.c - see wt.h.
 */
#include "wt.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "km_pg.h"
#include "km_test.h"
#include "km_util.h"

int wt_q(struct wt *t, const char *sql, const char *arg, char *buf, size_t len)
{
        const char *p[1] = {arg};
        PGresult *res = NULL;
        char err[512];

        buf[0] = '\0';
        if (km_pg_exec(t->rt.conn, sql, arg ? 1 : 0, p, &res, err,
                       sizeof(err))) {
                fprintf(stderr, "%s: %s\n", sql, err);
                return -1;
        }
        if (PQntuples(res) >= 1 && PQnfields(res) >= 1)
                snprintf(buf, len, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return 0;
}

long wt_qn(struct wt *t, const char *sql, const char *arg)
{
        char buf[64];

        if (wt_q(t, sql, arg, buf, sizeof(buf)))
                return -1;
        return strtol(buf, NULL, 10);
}

static int wt_exec(struct wt *t, const char *sql)
{
        PGresult *res = PQexec(t->rt.conn, sql);
        int ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
                 PQresultStatus(res) == PGRES_TUPLES_OK;

        if (!ok)
                fprintf(stderr, "fixture: %s\n", PQresultErrorMessage(res));
        PQclear(res);
        return ok ? 0 : -1;
}

int wt_setup(struct wt *t, const char *what, int complaints, int days)
{
        char args[256], from[16], group[200], sgroup[200], txn[200];
        const char *rargs[] = {"--set", group, "--set", txn, NULL};
        const char *sargs[] = {"--set", sgroup, NULL};
        time_t start = time(NULL) - (time_t)days * 86400;
        struct tm tm;
        int unique, router, sink, st1, st2;

        memset(t, 0, sizeof(*t));
        t->web_pid = -1;
        gmtime_r(&start, &tm);
        strftime(from, sizeof(from), "%Y-%m-%d", &tm);
        snprintf(args, sizeof(args),
                 "--seed 7 --buildings 300 --ksks 12 --lift-operators 3 "
                 "--complaints %d --days %d --from %s --votes 0",
                 complaints, days, from);
        if (rt_setup(&t->rt, what) || rt_gen(&t->rt, args) ||
            rt_import(&t->rt, NULL) || rt_publish(&t->rt, &unique) <= 0)
                return -1;
        snprintf(group, sizeof(group), "router.group=%s-router", t->rt.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt",
                 t->rt.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink",
                 t->rt.schema);
        router = rt_spawn(&t->rt, "router", rargs, NULL, 0);
        sink = rt_spawn(&t->rt, "tasksink", sargs, NULL, 0);
        if (router <= 0 || sink <= 0)
                return -1;
        if (rt_wait_count(&t->rt, "SELECT count(*) FROM tasks", unique,
                          90000) != unique) {
                fprintf(stderr, "fixture: not every complaint became a task\n");
                km_test_wait(router, SIGTERM, 30000);
                km_test_wait(sink, SIGTERM, 30000);
                return -1;
        }
        /* only komek-web publishes from here on (no relay) */
        st1 = km_test_wait(router, SIGTERM, 30000);
        st2 = km_test_wait(sink, SIGTERM, 30000);
        if (st1 != 0 || st2 != 0)
                return -1;
        if (wt_q(t,
                 "SELECT org_id FROM tasks WHERE org_kind = 'ksk' AND status "
                 "= 'open' GROUP BY org_id ORDER BY count(*) DESC, org_id "
                 "LIMIT 1",
                 NULL, t->org, sizeof(t->org)) ||
            wt_q(t,
                 "SELECT org_id FROM tasks WHERE org_kind = 'ksk' AND org_id "
                 "<> $1 GROUP BY org_id ORDER BY count(*) DESC, org_id LIMIT 1",
                 t->org, t->other, sizeof(t->other)))
                return -1;
        return t->org[0] && t->other[0] ? 0 : -1;
}

/* tests/web/fixture.sql: analytics facts from the tasks. */
int wt_analytics(struct wt *t)
{
        char *path =
                km_xasprintf("%s/tests/web/fixture.sql", getenv("KOMEK_ROOT"));
        FILE *fp = fopen(path, "r");
        char *sql = km_xcalloc(1, 1 << 16);
        size_t n = fp ? fread(sql, 1, (1 << 16) - 1, fp) : 0;
        int r;

        if (fp)
                fclose(fp);
        r = n > 0 ? wt_exec(t, sql) : -1;
        if (n == 0)
                fprintf(stderr, "cannot read %s\n", path);
        free(sql);
        free(path);
        if (r)
                return -1;
        return wt_q(t, "SELECT to_char(max(day), 'IYYY-\"W\"IW') FROM an_daily",
                    NULL, t->week, sizeof(t->week));
}

/* komek-web and its users CLI log in as their own role (deploy/pg.sh up
 * makes it, a member of komek_web and komek_analyst only), so a missing
 * grant fails these tests (issue 19).  libpq takes the last user=. */
#define WT_ROLE " user=komek_web_app"

static char *wt_cmd(struct wt *t, const char *args)
{
        return km_xasprintf("KOMEK_PG_CONNINFO='%s" WT_ROLE
                            "' %s/komek-web --config "
                            "%s/deploy/komek.conf %s 2>>'%s/users.log'",
                            t->rt.conninfo, getenv("KOMEK_BIN"),
                            getenv("KOMEK_ROOT"), args, t->rt.logdir);
}

int wt_user(struct wt *t, const char *login, const char *org,
            const char *password)
{
        char args[256];
        char *cmd;
        FILE *fp;
        int st;

        snprintf(args, sizeof(args),
                 "users add %s %s%s --password-stdin "
                 ">/dev/null",
                 login, org ? "--org " : "--analyst", org ? org : "");
        cmd = wt_cmd(t, args);
        fp = popen(cmd, "w");
        free(cmd);
        if (fp == NULL)
                return -1;
        fprintf(fp, "%s\n", password);
        st = pclose(fp);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int wt_users(struct wt *t, char **out, ...)
{
        char args[1024] = "users";
        const char *a;
        va_list ap;
        char *cmd, buf[4096];
        size_t len = 0;
        FILE *fp;
        int st;

        va_start(ap, out);
        while ((a = va_arg(ap, const char *)) != NULL) {
                strncat(args, " ", sizeof(args) - strlen(args) - 1);
                strncat(args, a, sizeof(args) - strlen(args) - 1);
        }
        va_end(ap);
        cmd = wt_cmd(t, args);
        fp = popen(cmd, "r");
        free(cmd);
        if (fp == NULL)
                return -1;
        len = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[len] = '\0';
        st = pclose(fp);
        if (out)
                *out = km_xstrdup(buf);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int wt_web_start(struct wt *t, const char *const *extra)
{
        static int n;
        char pf[512], port_arg[600], pg[1100];
        const char *args[32];
        int i = 0;
        int64_t deadline = km_now_ms() + 30000;

        snprintf(pf, sizeof(pf), "%s/web-port-%d", t->rt.logdir, n++);
        unlink(pf);
        snprintf(port_arg, sizeof(port_arg), "web.port_file=%s", pf);
        args[i++] = "--set";
        args[i++] = "web.port=0";
        args[i++] = "--set";
        args[i++] = port_arg;
        args[i++] = "--set";
        args[i++] = "web.cookie_secure=false";
        snprintf(pg, sizeof(pg), "%s" WT_ROLE, t->rt.conninfo);
        args[i++] = "--pg";
        args[i++] = pg;
        for (const char *const *e = extra; e && *e && i < 30; e++)
                args[i++] = *e;
        args[i] = NULL;
        t->port = 0;
        t->web_pid =
                rt_spawn(&t->rt, "web", args, t->weblog, sizeof(t->weblog));
        if (t->web_pid <= 0)
                return -1;
        while (km_now_ms() < deadline && t->port == 0) {
                FILE *fp = fopen(pf, "r");
                struct timespec ts = {0, 50 * 1000000L};

                if (fp) {
                        if (fscanf(fp, "%d", &t->port) != 1)
                                t->port = 0;
                        fclose(fp);
                }
                if (t->port == 0) /* polling for the port file */
                        nanosleep(&ts, NULL);
        }
        return t->port ? 0 : -1;
}

int wt_web_stop(struct wt *t)
{
        int st = 0;

        if (t->web_pid > 0)
                st = km_test_wait(t->web_pid, SIGTERM, 30000);
        t->web_pid = -1;
        return st;
}

void wt_teardown(struct wt *t)
{
        wt_web_stop(t);
        rt_teardown(&t->rt);
}
