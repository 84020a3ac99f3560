/*
 * test_metrics_analytics.c - /metrics and /healthz of komek-analytics and
 * komek-escalator against the real broker and a fresh schema, topics of
 * the test's own (tests/analytics/fx.h).  Each program is started with
 * <prog>.metrics_port = -1 and a metrics_port_file the test reads.
 *   - analytics: valid complaints, one of them twice, three invalid ones,
 *     a valid and an invalid dispatch message and an invalid vote; polled
 *     with a deadline, in/out/duplicate per topic and dlq by reason reach
 *     exactly what was published and agree with the tables; a batch was
 *     timed, the last commit is recent, the consumer lag of complaints
 *     comes down to 0, /healthz is "200 ok", no PostgreSQL error.
 *   - escalator: the dispatch message's task is past its SLA, so the
 *     leader opens one sla_breach escalation and publishes it
 *     (komek_escalations_total, komek_messages_total out, leader 1);
 *     a second one with the same name is a standby (leader 0, healthy)
 *     and takes over on SIGTERM of the first (leader 1, nothing opened
 *     or published again).  Every program exits 0 on SIGTERM.
 *   - analytics' database session killed: /healthz 503 "database: ...",
 *     then it reconnects by itself, 200 ok, and counts new input.
 *   - no broker (--brokers 127.0.0.1:1): analytics and a standby
 *     escalator answer 503 naming the broker and not the database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../analytics/fx.h"
#include "http_client.h"
#include "km_id.h"
#include "km_test.h"
#include "km_test_metrics.h"
#include "km_util.h"

#define NVALID 4
#define DEADLINE_MS 60000

static struct fx_env env;
static struct fx_data d;
static char logdir[256];
static int pids[4];
static int npids;

static void nap(int ms)
{
        struct timespec ts = {0, ms * 1000000L};

        nanosleep(&ts, NULL); /* between polls against a deadline */
}

static void forget(int pid)
{
        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
}

/* Spawn komek-<prog> with metrics on any free port; @returns the port
 * (from the port file), the pid in *pid, its log path in log. */
static int start(const char *prog, const char *const *extra, int *pid,
                 char *log, size_t loglen)
{
        static int n;
        char pf[512], set1[160], set2[600];
        const char *args[32];
        int i = 0, port = 0, st;
        int64_t deadline = km_now_ms() + DEADLINE_MS;

        snprintf(pf, sizeof(pf), "%s/mlan-%d-%s-%d.mport", logdir,
                 (int)getpid(), prog, n);
        snprintf(log, loglen, "%s/mlan-%d-%s-%d.log", logdir, (int)getpid(),
                 prog, n++);
        snprintf(set1, sizeof(set1), "%s.metrics_port=-1", prog);
        snprintf(set2, sizeof(set2), "%s.metrics_port_file=%s", prog, pf);
        args[i++] = "--set";
        args[i++] = set1;
        args[i++] = "--set";
        args[i++] = set2;
        for (const char *const *e = extra; e && *e && i < 30; e++)
                args[i++] = *e;
        args[i] = NULL;
        *pid = fx_spawn(&env, prog, args, log);
        assert_true(*pid > 0);
        pids[npids++] = *pid;
        while (port == 0 && km_now_ms() < deadline) {
                FILE *fp = fopen(pf, "r");

                if (fp) {
                        if (fscanf(fp, "%d", &port) != 1)
                                port = 0;
                        fclose(fp);
                }
                if (port > 0)
                        break;
                if (waitpid(*pid, &st, WNOHANG) == *pid) {
                        forget(*pid);
                        fail_msg("%s exited (status 0x%x) before writing %s; "
                                 "see %s",
                                 prog, st, pf, log);
                }
                nap(50);
        }
        if (port == 0)
                fail_msg("%s: no port in %s", prog, pf);
        return port;
}

static void stop(int pid)
{
        forget(pid);
        assert_int_equal(km_test_wait(pid, SIGTERM, 30000), 0);
}

static char *get(int port, const char *path, int *status)
{
        struct http_resp r;
        char *body;

        if (http_do(port, "GET", path, NULL, NULL, 0, &r) != 0)
                fail_msg("GET %s on port %d failed", path, port);
        *status = r.status;
        body = r.body;
        r.body = NULL;
        http_resp_free(&r);
        return body;
}

/* Poll until the series equals want; fail naming it otherwise. */
static void wait_metric(int port, const char *series, double want)
{
        double v = km_test_wait_metric(port, series, want, DEADLINE_MS);

        if (v != want)
                fail_msg("%s: got %g, want %g", series, v, want);
}

/* komek_messages_total{topic=<topic of t>,outcome=...[,reason=...]} */
static const char *msgs(int t, const char *outcome, const char *reason)
{
        static char s[512];

        if (reason)
                snprintf(s, sizeof(s),
                         "komek_messages_total{topic=\"%s\",outcome=\"%s\","
                         "reason=\"%s\"}",
                         env.topics[t], outcome, reason);
        else
                snprintf(s, sizeof(s),
                         "komek_messages_total{topic=\"%s\",outcome=\"%s\"}",
                         env.topics[t], outcome);
        return s;
}

static void wait_health(int port, int want_status, const char *want_text)
{
        int64_t deadline = km_now_ms() + 30000;
        int st = 0;
        char *body = NULL;

        for (;;) {
                free(body);
                body = get(port, "/healthz", &st);
                if ((st == want_status && strstr(body, want_text)) ||
                    km_now_ms() >= deadline)
                        break;
                nap(100);
        }
        if (st != want_status || strstr(body, want_text) == NULL)
                fail_msg("/healthz on %d: %d %s, want %d %s", port, st, body,
                         want_status, want_text);
        free(body);
}

static void assert_recent(int port, const char *series)
{
        double v = km_test_metric(port, series);

        if (v < (double)km_wall_s() - 120 || v > (double)km_wall_s() + 5)
                fail_msg("%s %.0f, now %lld", series, v,
                         (long long)km_wall_s());
}

static long count(const char *sql)
{
        PGresult *r = PQexec(env.conn, sql);
        long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                         ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
                         : -1;

        PQclear(r);
        return n;
}

/* Wait until the file at path contains text. */
static void wait_log(const char *path, const char *text)
{
        int64_t deadline = km_now_ms() + DEADLINE_MS;
        char buf[65536];

        while (km_now_ms() < deadline) {
                FILE *fp = fopen(path, "r");
                size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

                if (fp)
                        fclose(fp);
                buf[n] = '\0';
                if (strstr(buf, text))
                        return;
                nap(100);
        }
        fail_msg("%s: no \"%s\"", path, text);
}

/* The input: NVALID complaints the model accepts (the first twice; their
 * ids derived from source and external_id), three invalid ones, a
 * dispatch message for the first (due an hour ago: an SLA breach), an
 * invalid dispatch message and an invalid vote. */
static void build_input(void)
{
        int64_t now = km_wall_s();
        char id[KM_ID_LEN], first[KM_ID_LEN], rec[24], routed[24], due[24];
        char *m;

        km_fmt_rfc3339(now - 26 * 3600, rec, sizeof(rec));
        km_fmt_rfc3339(now - 26 * 3600 + 5, routed, sizeof(routed));
        km_fmt_rfc3339(now - 2 * 3600, due, sizeof(due));
        for (int i = 0; i < NVALID; i++) {
                char ext[32];

                snprintf(ext, sizeof(ext), "m-%d", i);
                km_id_derive("metrics-test", ext, id);
                if (i == 0)
                        memcpy(first, id, sizeof(first));
                m = km_xasprintf(
                        "{\"schema_version\":1,\"id\":\"%s\","
                        "\"category\":\"%s\",\"received_at\":\"%s\","
                        "\"source\":\"metrics-test\",\"channel\":"
                        "\"web\",\"external_id\":\"%s\",\"description\":"
                        "\"d\",\"address\":{\"text\":\"x\"}}",
                        id, i % 2 ? "lift" : "heating", rec, ext);
                fx_add_msg(&d, FX_CPL, id, m);
                if (i == 0) /* published twice: one duplicate */
                        fx_add_msg(&d, FX_CPL, id, m);
                free(m);
        }
        fx_add_msg(&d, FX_CPL, "x", "not json {");
        fx_add_msg(&d, FX_CPL, "x",
                   "{\"schema_version\":1,\"id\":\"6f1c2a4e-8b1d-4c3e-9a70-"
                   "6b6f6d656b31\",\"category\":\"no_such_category\","
                   "\"received_at\":\"2026-01-01T00:00:00Z\",\"source\":"
                   "\"web\"}");
        fx_add_msg(&d, FX_CPL, "x",
                   "{\"schema_version\":1,\"category\":\"heating\"}");
        m = km_xasprintf(
                "{\"schema_version\":1,\"complaint_id\":\"%s\",\"attempt\":1,"
                "\"org_id\":\"ksk-0001\",\"org_kind\":\"ksk\",\"building_id\":"
                "\"b-000001\",\"district\":\"Esil\",\"category\":\"heating\","
                "\"route_reason\":\"building_id\",\"received_at\":\"%s\","
                "\"routed_at\":\"%s\",\"due_at\":\"%s\",\"complaint\":"
                "{\"channel\":\"web\"}}",
                first, rec, routed, due);
        fx_add_msg(&d, FX_DSP, "ksk-0001", m);
        free(m);
        fx_add_msg(&d, FX_DSP, "x",
                   "{\"schema_version\":1,\"complaint_id\":\"nope\"}");
        fx_add_msg(&d, FX_VOT, "x", "{\"schema_version\":2}");
}

static void test_analytics_escalator(void **state)
{
        char group[160], name[160], sgroup[200], sname[200], sagroup[200];
        char alog[512], elog1[512], elog2[512], s[512];
        const char *an_args[] = {"--set", sgroup, "--set",
                                 "analytics.batch_ms=100", NULL};
        const char *es_args[] = {"--set", sname,   "--set",
                                 sagroup, "--set", "escalator.interval_s=1",
                                 NULL};
        int an, es1, es2, anp, esp1, esp2, st;
        char *text;

        (void)state;
        build_input();
        assert_int_equal(fx_publish(&env, &d, 0, (int)d.nm), 0);
        km_test_name(group, sizeof(group), "man");
        km_test_name(name, sizeof(name), "mesc");
        snprintf(sgroup, sizeof(sgroup), "analytics.group=%s", group);
        snprintf(sname, sizeof(sname), "escalator.name=%s", name);
        snprintf(sagroup, sizeof(sagroup), "escalator.analytics_group=%s",
                 group);

        /* analytics: every message counted once its batch committed */
        anp = start("analytics", an_args, &an, alog, sizeof(alog));
        wait_metric(anp, msgs(FX_CPL, "in", NULL), NVALID + 1 + 3);
        wait_metric(anp, msgs(FX_CPL, "out", NULL), NVALID);
        wait_metric(anp, msgs(FX_CPL, "duplicate", NULL), 1);
        wait_metric(anp, msgs(FX_CPL, "dlq", "invalid_json"), 1);
        wait_metric(anp, msgs(FX_CPL, "dlq", "unknown_category"), 1);
        wait_metric(anp, msgs(FX_CPL, "dlq", "missing_field"), 1);
        wait_metric(anp, msgs(FX_DSP, "in", NULL), 2);
        wait_metric(anp, msgs(FX_DSP, "out", NULL), 1);
        wait_metric(anp, msgs(FX_DSP, "dlq", "invalid_field"), 1);
        wait_metric(anp, msgs(FX_VOT, "in", NULL), 1);
        wait_metric(anp, msgs(FX_VOT, "dlq", "unsupported_schema_version"), 1);
        assert_true(km_test_metric(anp, msgs(FX_EVT, "in", NULL)) == 0);
        assert_true(km_test_metric(anp, msgs(FX_VOT, "out", NULL)) == 0);
        /* the tables agree */
        assert_int_equal(count("SELECT count(*) FROM an_complaints"), NVALID);
        assert_int_equal(count("SELECT count(*) FROM an_tasks"), 1);
        assert_true(km_test_metric(anp, "komek_batch_seconds_count") >= 1);
        assert_true(km_test_metric(anp, "komek_batch_seconds_count"
                                        "{stage=\"commit\"}") >= 1);
        assert_recent(anp, "komek_last_commit_timestamp_seconds");
        /* lag per partition of complaints, down to 0 once all is read */
        snprintf(s, sizeof(s), "komek_consumer_lag{topic=\"%s\",",
                 env.topics[FX_CPL]);
        {
                int64_t deadline = km_now_ms() + 30000;
                double v;

                while ((v = km_test_metric_sum(anp, s)) != 0 &&
                       km_now_ms() < deadline)
                        nap(200);
                if (v != 0)
                        fail_msg("analytics lag %g, want 0", v);
        }
        wait_health(anp, 200, "ok");
        text = get(anp, "/metrics", &st);
        assert_non_null(strstr(text, "komek_info{program=\"komek-analytics\"} "
                                     "1\n"));
        assert_null(strstr(text, "komek_pg_errors_total{"));
        assert_non_null(strstr(text, "komek_metrics_rejected_total 0\n"));
        free(text);

        /* the database drops analytics' session: /healthz says so, the
         * probe's finding makes it reconnect (no message needed to fail
         * on it), and it is healthy again and counting */
        snprintf(s, sizeof(s),
                 "SELECT count(pg_terminate_backend(pid)) FROM "
                 "pg_stat_activity WHERE application_name = "
                 "'komek-analytics/%s'",
                 group);
        assert_int_equal(count(s), 1);
        wait_health(anp, 503, "unhealthy: database: ");
        wait_log(alog, "reconnected to postgresql");
        wait_health(anp, 200, "ok");
        fx_add_msg(&d, FX_CPL, "x", "{\"schema_version\":7}");
        assert_int_equal(fx_publish(&env, &d, (int)d.nm - 1, (int)d.nm), 0);
        wait_metric(anp, msgs(FX_CPL, "in", NULL), NVALID + 1 + 3 + 1);
        wait_metric(anp, msgs(FX_CPL, "dlq", "unsupported_schema_version"), 1);

        /* the escalator: leader, one SLA breach opened and published */
        esp1 = start("escalator", es_args, &es1, elog1, sizeof(elog1));
        wait_metric(esp1, "komek_escalator_leader", 1);
        wait_metric(esp1, "komek_escalations_total{kind=\"sla_breach\"}", 1);
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"out\"}",
                 env.topics[FX_ESC]);
        wait_metric(esp1, s, 1);
        assert_true(km_test_metric(esp1, "komek_escalations_total"
                                         "{kind=\"systemic\"}") == 0);
        assert_true(km_test_metric(esp1,
                                   "komek_escalations_total{kind=\"inefficient_"
                                   "ksk\"}") == 0);
        assert_true(km_test_metric(esp1, "komek_transaction_aborts_total") ==
                    0);
        assert_recent(esp1, "komek_last_commit_timestamp_seconds");
        {
                int64_t deadline = km_now_ms() + DEADLINE_MS;

                while (km_test_metric(esp1,
                                      "komek_escalator_last_pass_timestamp_"
                                      "seconds") <= 0 &&
                       km_now_ms() < deadline)
                        nap(100);
        }
        assert_recent(esp1, "komek_escalator_last_pass_timestamp_seconds");
        assert_true(km_test_metric(esp1, "komek_batch_seconds_count") >= 1);
        assert_int_equal(count("SELECT count(*) FROM escalations"), 1);
        wait_health(esp1, 200, "ok");

        /* a second one with the same name waits as a standby, healthy */
        esp2 = start("escalator", es_args, &es2, elog2, sizeof(elog2));
        wait_log(elog2, "standby: another");
        assert_true(km_test_metric(esp2, "komek_escalator_leader") == 0);
        wait_health(esp2, 200, "ok");
        assert_true(km_test_metric(esp1, "komek_escalator_leader") == 1);

        /* the leader stops: the standby takes over, opens and publishes
         * nothing again */
        stop(es1);
        wait_metric(esp2, "komek_escalator_leader", 1);
        {
                int64_t deadline = km_now_ms() + DEADLINE_MS;

                while (km_test_metric(esp2,
                                      "komek_escalator_last_pass_timestamp_"
                                      "seconds") <= 0 &&
                       km_now_ms() < deadline)
                        nap(100);
        }
        assert_true(km_test_metric(esp2, "komek_escalations_total"
                                         "{kind=\"sla_breach\"}") == 0);
        assert_true(km_test_metric(esp2, s) == 0);
        assert_int_equal(count("SELECT count(*) FROM escalations"), 1);
        text = get(esp2, "/metrics", &st);
        assert_null(strstr(text, "komek_pg_errors_total{"));
        assert_non_null(strstr(text, "komek_metrics_rejected_total 0\n"));
        free(text);

        stop(es2);
        stop(an);
}

/* No broker: analytics and a standby escalator (the test holds the
 * leader lock) answer 503 naming the broker, not the database; SIGTERM:
 * exit 0. */
static void test_broker_down(void **state)
{
        char group[160], name[160], sgroup[200], sname[200], log[512];
        const char *an_args[] = {"--brokers", "127.0.0.1:1", "--set", sgroup,
                                 NULL};
        const char *es_args[] = {"--brokers", "127.0.0.1:1", "--set", sname,
                                 NULL};
        const char *params[1] = {name};
        int an, es, anp, esp, st;
        PGresult *res;
        char *body;

        (void)state;
        km_test_name(group, sizeof(group), "man");
        km_test_name(name, sizeof(name), "mesc");
        snprintf(sgroup, sizeof(sgroup), "analytics.group=%s", group);
        snprintf(sname, sizeof(sname), "escalator.name=%s", name);
        res = PQexecParams(env.conn,
                           "SELECT pg_advisory_lock(73053105, hashtext($1))", 1,
                           NULL, params, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
        PQclear(res);

        anp = start("analytics", an_args, &an, log, sizeof(log));
        esp = start("escalator", es_args, &es, log, sizeof(log));
        wait_health(anp, 503, "unhealthy: broker: no broker answered");
        wait_health(esp, 503, "unhealthy: broker: no broker answered");
        wait_log(log, "standby: another");
        body = get(anp, "/healthz", &st);
        assert_null(strstr(body, "database")); /* the database is fine */
        free(body);
        body = get(esp, "/healthz", &st);
        assert_null(strstr(body, "database"));
        free(body);
        assert_true(km_test_metric(esp, "komek_escalator_leader") == 0);
        stop(es);
        stop(an);
}

static int setup(void **state)
{
        static const int parts[FX_NTOPICS] = {2, 2, 1, 1, 1, 1};
        const char *root = getenv("KOMEK_ROOT");

        (void)state;
        npids = 0;
        memset(&d, 0, sizeof(d));
        snprintf(logdir, sizeof(logdir), "%s/.run/test-logs",
                 root ? root : ".");
        if (fx_env_init(&env, parts))
                return -1;
        d.conf = &env.conf;
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        fx_data_destroy(&d);
        fx_env_destroy(&env);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_analytics_escalator, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_broker_down, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
