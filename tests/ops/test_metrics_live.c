/*
 * test_metrics_live.c - /metrics and /healthz of the running programs
 * (komek-gateway, komek-router, komek-tasksink) against the real broker
 * and a fresh schema with a small imported directory.  Each program is
 * started with metrics_port = -1 (any free port) and a
 * <prog>.metrics_port_file the test reads the port from.
 *   - pipeline: complaints posted to the gateway (valid and invalid) and
 *     three malformed messages produced straight to the complaints topic;
 *     polled with a deadline, the counters must reach exactly what was
 *     sent (gateway answers by route and code, router in/out/dlq by
 *     reason, sink in/out), the tables agree, the last commit time is
 *     recent, the router's consumer lag comes down to 0, /healthz is
 *     "200 ok" everywhere; SIGTERM: exit 0.
 *   - a broker that is not there (--brokers 127.0.0.1:1): the sink's and
 *     the gateway's /healthz answer 503 naming the broker (and not the
 *     database); SIGTERM: exit 0.
 *   - a metrics address that is not a literal IP: exit 2.
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

#include "http_client.h"
#include "../routing/rt.h"
#include "km_test.h"
#include "km_test_metrics.h"
#include "km_util.h"

#define GEN                                                                    \
        "--seed 7 --buildings 60 --ksks 4 --lift-operators 2 "                 \
        "--utilities 2 --complaints 10 --days 5 --votes 0"
#define FORM "application/x-www-form-urlencoded"
#define NVALID 4

static struct rt t;
static int pids[8];
static int npids;

static void nap(int ms)
{
        struct timespec ts = {0, ms * 1000000L};

        nanosleep(&ts, NULL); /* between polls against a deadline */
}

/* The port written to pf by the running program pid, waiting for it. */
static int read_port(const char *pf, const char *prog, int pid)
{
        int64_t deadline = km_now_ms() + 60000;
        int port = 0, st;

        while (port == 0 && km_now_ms() < deadline) {
                FILE *fp = fopen(pf, "r");

                if (fp) {
                        if (fscanf(fp, "%d", &port) != 1)
                                port = 0;
                        fclose(fp);
                }
                if (port > 0)
                        break;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                        for (int i = 0; i < npids; i++)
                                if (pids[i] == pid)
                                        pids[i] = 0;
                        fail_msg("%s exited (status 0x%x) before writing %s",
                                 prog, st, pf);
                }
                nap(50);
        }
        if (port == 0)
                fail_msg("%s: no port in %s", prog, pf);
        return port;
}

/* Spawn prog with metrics on any free port; @returns the metrics port
 * (read from the port file), the pid in *pid. */
static int start(const char *prog, const char *const *extra, int *pid)
{
        static int n;
        char pf[512], set1[160], set2[600];
        const char *args[24];
        int i = 0;

        snprintf(pf, sizeof(pf), "%s/%s-%d.mport", t.logdir, prog, n++);
        snprintf(set1, sizeof(set1), "%s.metrics_port=-1", prog);
        snprintf(set2, sizeof(set2), "%s.metrics_port_file=%s", prog, pf);
        args[i++] = "--set";
        args[i++] = set1;
        args[i++] = "--set";
        args[i++] = set2;
        for (const char *const *e = extra; e && *e && i < 22; e++)
                args[i++] = *e;
        args[i] = NULL;
        *pid = rt_spawn(&t, prog, args, NULL, 0);
        assert_true(*pid > 0);
        pids[npids++] = *pid;
        return read_port(pf, prog, *pid);
}

static void stop(int pid)
{
        for (int i = 0; i < npids; i++)
                if (pids[i] == pid)
                        pids[i] = 0;
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
        double v = km_test_wait_metric(port, series, want, 60000);

        if (v != want)
                fail_msg("%s: got %g, want %g", series, v, want);
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

/* komek-keys add; the key is the one line on stdout. */
static void make_key(char *out, size_t len)
{
        char *cmd = km_xasprintf("KOMEK_PG_CONNINFO=\"%s\" %s/komek-keys "
                                 "--log-level warn add --source mlive "
                                 "--rate 100000",
                                 t.conninfo, getenv("KOMEK_BIN"));
        FILE *fp = popen(cmd, "r");
        int ok = fp && fgets(out, (int)len, fp) != NULL;

        free(cmd);
        if (fp && pclose(fp) != 0)
                ok = 0;
        out[strcspn(out, "\n")] = '\0';
        if (!ok || strncmp(out, "km_", 3) != 0)
                fail_msg("komek-keys add failed");
}

static int post(int port, const char *body)
{
        struct http_resp r;
        int st;

        assert_int_equal(http_do(port, "POST", "/requests.json", FORM, body,
                                 strlen(body), &r),
                         0);
        st = r.status;
        http_resp_free(&r);
        return st;
}

static void test_pipeline(void **state)
{
        static const char *const bad[3] = {
                "{not json",
                "{\"schema_version\":1,\"id\":\"6f1c2a4e-8b1d-4c3e-9a70-6b6f6d656b31\"}",
                "\xff\xfe invalid utf-8",
        };
        static const char *const reasons[3] = {"invalid_json", "missing_field",
                                               "invalid_utf8"};
        char key[128], body[512], s[512], group[200], txn[200], sgroup[200];
        char hpf[512];
        const char *gw_args[] = {"--port", "0", "--port-file", hpf, NULL};
        const char *rt_args[] = {"--set", group,   "--set",
                                 txn,     "--set", "router.batch_ms=100",
                                 NULL};
        const char *ts_args[] = {"--set", sgroup, "--set",
                                 "tasksink.batch_ms=100", NULL};
        int gw, router, sink, gwp, rtp, tsp, port, st;
        double v;
        char *text;

        (void)state;
        assert_int_equal(rt_gen(&t, GEN), 0);
        assert_int_equal(rt_import(&t, NULL), 0);
        make_key(key, sizeof(key));
        snprintf(group, sizeof(group), "router.group=%s-router", t.schema);
        snprintf(txn, sizeof(txn), "router.transactional_id=%s-rt", t.schema);
        snprintf(sgroup, sizeof(sgroup), "tasksink.group=%s-sink", t.schema);
        snprintf(hpf, sizeof(hpf), "%s/gateway.port", t.logdir);
        gwp = start("gateway", gw_args, &gw);
        tsp = start("tasksink", ts_args, &sink);
        rtp = start("router", rt_args, &router);

        port = read_port(hpf, "gateway", gw);
        for (int i = 0; i < NVALID; i++) {
                snprintf(body, sizeof(body),
                         "api_key=%s&service_code=%s&description=d%d"
                         "&address_string=street+%d",
                         key, i % 2 ? "heating" : "lift", i, i);
                assert_int_equal(post(port, body), 201);
        }
        /* an unknown service code: 400, nothing published */
        snprintf(body, sizeof(body),
                 "api_key=%s&service_code=nope&description=d&"
                 "address_string=x",
                 key);
        assert_int_equal(post(port, body), 400);
        free(get(port, "/services.json", &st));
        assert_int_equal(st, 200);
        for (int i = 0; i < 3; i++)
                assert_int_equal(rt_produce_raw(&t, t.complaints, "x", bad[i],
                                                strlen(bad[i])),
                                 0);

        /* the gateway */
        wait_metric(gwp,
                    "komek_http_requests_total{route=\"/requests\","
                    "method=\"POST\",code=\"201\"}",
                    NVALID);
        wait_metric(gwp,
                    "komek_http_requests_total{route=\"/requests\","
                    "method=\"POST\",code=\"400\"}",
                    1);
        wait_metric(gwp,
                    "komek_http_requests_total{route=\"/services\","
                    "method=\"GET\",code=\"200\"}",
                    1);
        wait_metric(gwp,
                    "komek_http_request_seconds_count{route="
                    "\"/requests\"}",
                    NVALID + 1);
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"out\"}",
                 t.complaints);
        wait_metric(gwp, s, NVALID);

        /* the router: every message read, the valid ones dispatched, the
         * others dead-lettered by reason, all counted once committed */
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"in\"}",
                 t.complaints);
        wait_metric(rtp, s, NVALID + 3);
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"out\"}",
                 t.dispatch);
        wait_metric(rtp, s, NVALID);
        for (int i = 0; i < 3; i++) {
                snprintf(s, sizeof(s),
                         "komek_messages_total{topic=\"%s\",outcome=\"dlq\","
                         "reason=\"%s\"}",
                         t.complaints, reasons[i]);
                wait_metric(rtp, s, 1);
        }
        assert_true(km_test_metric(rtp, "komek_batch_seconds_count") >= 1);
        assert_int_equal(
                (int)km_test_metric(rtp, "komek_transaction_aborts_total"), 0);
        v = km_test_metric(rtp, "komek_last_commit_timestamp_seconds");
        if (v < (double)km_wall_s() - 120 || v > (double)km_wall_s() + 5)
                fail_msg("router last commit %.0f, now %lld", v,
                         (long long)km_wall_s());
        /* lag per partition of complaints, down to 0 once all is read */
        snprintf(s, sizeof(s), "komek_consumer_lag{topic=\"%s\",",
                 t.complaints);
        {
                int64_t deadline = km_now_ms() + 30000;

                while ((v = km_test_metric_sum(rtp, s)) != 0 &&
                       km_now_ms() < deadline)
                        nap(200);
                if (v != 0)
                        fail_msg("router lag %g, want 0", v);
        }

        /* the sink: one task per valid complaint */
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"in\"}",
                 t.dispatch);
        wait_metric(tsp, s, NVALID);
        snprintf(s, sizeof(s),
                 "komek_messages_total{topic=\"%s\",outcome=\"out\"}",
                 t.dispatch);
        wait_metric(tsp, s, NVALID);
        assert_int_equal(rt_count(&t, "SELECT count(*) FROM tasks"), NVALID);
        v = km_test_metric(tsp, "komek_last_commit_timestamp_seconds");
        if (v < (double)km_wall_s() - 120 || v > (double)km_wall_s() + 5)
                fail_msg("sink last commit %.0f, now %lld", v,
                         (long long)km_wall_s());
        snprintf(s, sizeof(s), "komek_consumer_lag{topic=\"%s\",", t.dispatch);
        {
                int64_t deadline = km_now_ms() + 30000;

                while ((v = km_test_metric_sum(tsp, s)) != 0 &&
                       km_now_ms() < deadline)
                        nap(200);
                if (v != 0)
                        fail_msg("sink lag %g, want 0", v);
        }

        /* healthy, no PostgreSQL error, and each says who it is */
        wait_health(gwp, 200, "ok");
        wait_health(rtp, 200, "ok");
        wait_health(tsp, 200, "ok");
        text = get(rtp, "/metrics", &st);
        assert_non_null(
                strstr(text, "komek_info{program=\"komek-router\"} 1\n"));
        assert_null(strstr(text, "komek_pg_errors_total{"));
        assert_non_null(strstr(text, "komek_metrics_rejected_total 0\n"));
        free(text);
        assert_true(km_test_metric(tsp, "komek_metrics_rejected_total") == 0);
        assert_true(km_test_metric(gwp, "komek_metrics_rejected_total") == 0);

        stop(gw);
        stop(router);
        stop(sink);
}

static void test_broker_down(void **state)
{
        const char *args[] = {"--brokers", "127.0.0.1:1", "--set",
                              "tasksink.relay_ms=0", NULL};
        const char *gw_args[] = {"--brokers", "127.0.0.1:1", "--port", "0",
                                 NULL};
        int sink, gw, tsp, gwp, st;
        char *body;

        (void)state;
        tsp = start("tasksink", args, &sink);
        gwp = start("gateway", gw_args, &gw);
        wait_health(tsp, 503, "unhealthy: broker: no broker answered");
        wait_health(gwp, 503, "unhealthy: broker: no broker answered");
        body = get(tsp, "/healthz", &st);
        assert_null(strstr(body, "database")); /* the database is fine */
        free(body);
        assert_true(km_test_metric(tsp, "komek_info{program="
                                        "\"komek-tasksink\"}") == 1);
        stop(sink);
        stop(gw);
}

static void test_bad_address(void **state)
{
        const char *args[] = {"--set", "tasksink.metrics_address=localhost",
                              "--set", "tasksink.metrics_port=-1", NULL};
        int pid = rt_spawn(&t, "tasksink", args, NULL, 0);

        (void)state;
        assert_true(pid > 0);
        pids[npids++] = pid;
        assert_int_equal(km_test_wait(pid, 0, 30000), 2);
        pids[--npids] = 0;
}

static int setup(void **state)
{
        (void)state;
        npids = 0;
        return rt_setup(&t, "mlive");
}

static int teardown(void **state)
{
        (void)state;
        for (int i = 0; i < npids; i++)
                if (pids[i] > 0)
                        km_test_wait(pids[i], SIGKILL, 5000);
        rt_teardown(&t);
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_broker_down, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_bad_address, setup,
                                                teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
